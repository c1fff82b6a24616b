"""Session.run under threads, interrupts and long use (issue 18 items 3, 5, 7, 8, 13).

* runs that assign variables never lose an update, whatever ``use_locking`` says; runs
  that only read do not take the commit lock;
* an interrupt anywhere in a run commits all of its updates or none;
* the default session stack is per thread, as in TF1;
* the compile cache keeps a bounded number of programs and warns once when it keeps
  evicting;
* a training step with a fed variable is refused with an error naming the variable.

Every thread test runs a fixed, small number of steps and joins with a timeout.
"""

from __future__ import annotations

import gc
import sys
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tapeflow.static as tf
from tapeflow.static.compiler import CompileOptions, UnknownPassError
from tapeflow.static.session_cache import CompileCacheWarning

JOIN_TIMEOUT = 30.0  # a deadlock fails the test instead of hanging the suite


@pytest.fixture
def fast_switching() -> Any:
    """Threads switch every 10 microseconds (not 5 ms), so a lost update cannot hide."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


def run_threads(target: Any, count: int) -> None:
    """Runs ``target(k)`` in ``count`` threads started together; re-raises their errors."""
    barrier, errors = threading.Barrier(count), []

    def body(k: int) -> None:
        try:
            barrier.wait()
            target(k)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]


# ---- item 3: concurrent training never loses an update --------------------------------------


@pytest.mark.parametrize("use_locking", [True, False])
@pytest.mark.usefixtures("fast_switching")
def test_concurrent_sgd_steps_apply_every_update(use_locking: bool) -> None:
    with tf.Graph().as_default():
        w = tf.Variable([0.0, 0.0], name="w")
        step = tf.train.GradientDescentOptimizer(1.0, use_locking=use_locking).minimize(
            tf.reduce_sum(w))
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    run_threads(lambda k: [sess.run(step) for _ in range(250)], 4)
    np.testing.assert_array_equal(sess.run(w), [-1000.0, -1000.0])


@pytest.mark.usefixtures("fast_switching")
def test_concurrent_assign_add_counts_every_run() -> None:
    with tf.Graph().as_default():
        counter = tf.Variable(0, dtype=tf.int64, name="counter")
        bump = tf.assign_add(counter, 1)
        sess = tf.Session()
        sess.run(counter.initializer)
    run_threads(lambda k: [sess.run(bump) for _ in range(1000)], 4)
    assert sess.run(counter) == 4000


def test_read_only_runs_do_not_take_the_commit_lock() -> None:
    with tf.Graph().as_default():
        w = tf.Variable([1.0, 2.0], name="w")
        total = tf.reduce_sum(w * 3.0)
        step = tf.assign_add(w, [1.0, 1.0])
        sess = tf.Session()
        sess.run(w.initializer)
    done = []
    with sess._commit_lock:  # as if a training run were between its read and its commit
        reader = threading.Thread(target=lambda: done.append(sess.run(total)))
        reader.start()
        reader.join(JOIN_TIMEOUT)
        assert done == [9.0]
    sess.run(step)
    assert sess.run(total) == 15.0


# ---- item 7: interrupts commit everything or nothing -----------------------------------------


def two_variable_step() -> tuple[tf.Session, Any, Any, Any]:
    with tf.Graph().as_default():
        a = tf.Variable(0.0, name="a")
        b = tf.Variable(0.0, name="b")
        both = tf.group(tf.assign(a, a + 1.0), tf.assign(b, b + 1.0))
        sess = tf.Session()
        sess.run(tf.global_variables_initializer())
    return sess, a, b, both


ROOT = str(Path(tf.__file__).resolve().parents[1])


def interrupt_at_call(k: int) -> Any:
    """A trace function that raises KeyboardInterrupt as the k-th call into tapeflow's code
    (a generated schedule included) starts: where CPython itself delivers a Ctrl-C (on
    entering a function), so every function of the run, kernels included, gets one."""
    seen = [0]

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        name = frame.f_code.co_filename
        ours = name.startswith(ROOT) and "/.venv/" not in name
        if event == "call" and (ours or name.startswith("<tapeflow")):
            seen[0] += 1
            if seen[0] == k:
                raise KeyboardInterrupt
        return None

    return tracer


@pytest.mark.parametrize("options", [CompileOptions(), CompileOptions(optimize=False,
                                                                       plan_memory=False)],
                         ids=["compiled", "interpreted"])
def test_an_interrupt_anywhere_in_a_run_commits_all_or_nothing(options: CompileOptions
                                                               ) -> None:
    sess, a, b, both = two_variable_step()
    sess.options = options
    sess.run(both)  # compiled now: the interrupts below land in the run itself
    interrupted = 0
    for k in range(1, 400):
        before = sess.run([a, b])
        sys.settrace(interrupt_at_call(k))
        try:
            sess.run(both)
        except KeyboardInterrupt:
            interrupted += 1
        finally:
            sys.settrace(None)
        after = sess.run([a, b])
        assert after[0] - before[0] == after[1] - before[1] in (0.0, 1.0), (k, before, after)
        if interrupted < k:  # the k-th call was past the end of the run: every call tried
            break
    assert interrupted > 10  # the run really was interrupted at many places
    assert sess.run([a, b]) == [sess.run(a), sess.run(a)]


def test_an_interrupt_while_building_the_commit_changes_nothing(monkeypatch: Any) -> None:
    import tapeflow.static.session as session_module

    sess, a, b, both = two_variable_step()
    calls = []
    real = session_module._fresh

    def second_raises(value: Any, owned: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # between the two variables' commits
        return real(value, owned)

    monkeypatch.setattr(session_module, "_fresh", second_raises)
    with pytest.raises(KeyboardInterrupt):
        sess.run(both)
    assert sess.run([a, b]) == [0.0, 0.0]
    sess.run(both)
    assert sess.run([a, b]) == [1.0, 1.0]


# ---- item 5: the default session is per thread -----------------------------------------------


def test_the_default_session_stack_is_per_thread() -> None:
    with tf.Graph().as_default():
        x = tf.constant(2.0) * 3.0
        main_sess, other_sess = tf.Session(), tf.Session()
    seen: dict[str, Any] = {}
    entered, checked = threading.Event(), threading.Event()

    def other() -> None:
        with other_sess.as_default():
            entered.set()
            checked.wait(JOIN_TIMEOUT)
            seen["other"] = tf.get_default_session()

    with main_sess.as_default():
        thread = threading.Thread(target=other)
        thread.start()
        entered.wait(JOIN_TIMEOUT)
        seen["main"] = tf.get_default_session()
        assert x.eval() == 6.0
        checked.set()
        thread.join(JOIN_TIMEOUT)
    assert seen == {"main": main_sess, "other": other_sess}
    assert tf.get_default_session() is None


# ---- item 8: the compile cache is bounded ----------------------------------------------------


def test_the_compile_cache_keeps_a_bounded_number_of_programs() -> None:
    assert CompileOptions().max_cached_programs == 64
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None, 3], name="x")
        total = tf.reduce_sum(tf.tanh(x) * 2.0)
        sess = tf.Session(options=CompileOptions(max_cached_programs=8))
    alive = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for rows in range(1, 41):
            batch = np.full((rows, 3), 0.5)
            assert sess.run(total, {x: batch}) == pytest.approx(rows * 3 * 2 * np.tanh(0.5))
            alive.append(weakref.ref(sess._cache.values()[-1].program))
    gc.collect()
    assert len(sess._cache) == 8 and len(sess._fast) <= 8
    assert sum(ref() is not None for ref in alive) == 8  # evicted programs are freed
    assert sess.compile_count == 40
    assert [w.category for w in caught] == [CompileCacheWarning]
    assert "max_cached_programs=8" in str(caught[0].message)


def test_a_recently_used_program_is_kept() -> None:
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float64, [None], name="x")
        total = tf.reduce_sum(x)
        sess = tf.Session(options=CompileOptions(max_cached_programs=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileCacheWarning)
        for rows in (1, 2, 1, 3, 1):  # 1 is used again each time, so 2 is the one dropped
            sess.run(total, {x: np.ones(rows)})
    assert sess.compile_count == 3


def test_cache_and_pass_switches_are_checked() -> None:
    with pytest.raises(ValueError, match="max_cached_programs"):
        CompileOptions(max_cached_programs=0)
    with pytest.raises(UnknownPassError, match="'dot_merj'"):
        CompileOptions().without("dot_merj")
    assert CompileOptions(max_cached_programs=None).max_cached_programs is None


# ---- item 13: a fed variable in a training step ----------------------------------------------


def test_feeding_a_variable_that_the_run_assigns_names_the_variable() -> None:
    with tf.Graph().as_default():
        w = tf.Variable([1.0, 2.0], name="weights")
        loss = tf.reduce_sum(w * w)
        step = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        sess = tf.Session()
        sess.run(w.initializer)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Cannot feed variable 'weights'"):
        sess.run(step, {w: [3.0, 4.0]})
    # TF1 lets a run that only reads the variable take the fed value
    assert sess.run(loss, {w: [3.0, 4.0]}) == 25.0
    np.testing.assert_array_equal(sess.run(w), [1.0, 2.0])
