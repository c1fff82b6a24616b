import sys
from pathlib import Path

# the gradient tests share their op inputs (vjp_cases.py beside this file)
sys.path.insert(0, str(Path(__file__).resolve().parent))
