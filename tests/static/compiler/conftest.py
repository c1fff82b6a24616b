import sys
from pathlib import Path

# the compiler tests share hand-built IR graphs (builders.py beside this file)
sys.path.insert(0, str(Path(__file__).resolve().parent))
