import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def one_blas_thread():
    # as `tapeflow compare` runs by default (--blas-threads 1): a multithreaded GEMM on a
    # busy two-core machine can stall many times over and make these tests crawl
    with threadpool_limits(limits=1, user_api="blas"):
        yield
