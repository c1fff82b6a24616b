"""More tutorial renditions (issue 21): the kinds of beginner programs people run, written
as they are on PyTorch or TF1 with only the import changed, each checked to learn."""

from __future__ import annotations

import io

import numpy as np
import tapeflow.dynamic as torch
import tapeflow.static as tf
from tapeflow.dynamic import nn
from tapeflow.dynamic.optim.lr_scheduler import StepLR


def test_linear_regression_with_a_scheduler_and_a_checkpoint() -> None:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x - 0.5 + 0.05 * torch.randn(64, 1)
    model = nn.Linear(1, 1).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = StepLR(optimizer, step_size=50, gamma=0.5)
    criterion = nn.SmoothL1Loss(beta=0.1)
    for epoch in range(200):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if epoch % 50 == 0:
            print(f"epoch {epoch}: loss {loss:.4f}, lr {scheduler.get_last_lr()[0]:.3f}")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = nn.Linear(1, 1)
    restored.load_state_dict(torch.load(buffer))
    assert abs(restored.weight.item() - 3) < 0.1 and abs(restored.bias.item() + 0.5) < 0.1
    assert scheduler.get_last_lr()[0] == 0.5 * 0.5 ** 4


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    points = centers[labels] + 0.6 * rng.standard_normal((n, 2))
    return torch.tensor(points, dtype=torch.float32), torch.tensor(labels)


def test_classifier_with_batchnorm_dropout_and_nll() -> None:
    torch.manual_seed(1)
    x, y = _blobs(300, 0)
    model = nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.LeakyReLU(0.1),
                          nn.Dropout(0.2), nn.Linear(32, 3), nn.LogSoftmax(dim=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=50,
                                         shuffle=True)
    for _ in range(15):
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            log_probs = model(xb)
            loss = -log_probs[range(len(yb)), yb].mean()  # the hand-written NLL
            loss.backward()
            optimizer.step()
    model.eval()
    test_x, test_y = _blobs(200, 1)
    with torch.no_grad():
        scores = model(test_x)
        predicted = scores.argmax(dim=1)
        accuracy = (predicted == test_y).float().mean()
        values, _ = scores.topk(2, dim=1)
    print(f"accuracy {accuracy:.2%}")
    assert accuracy.item() > 0.9
    assert bool((values[:, 0] >= values[:, 1]).all())
    assert nn.functional.nll_loss(scores, test_y).item() < 0.35


def _first_sign_task(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    seqs = rng.standard_normal((n, length, 1)).astype(np.float32)
    return torch.tensor(seqs), torch.tensor((seqs[:, 0, 0] > 0).astype(np.int64))


class SequenceClassifier(nn.Module):
    def __init__(self, cell: str, bidirectional: bool) -> None:
        super().__init__()
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(1, 8, batch_first=True, bidirectional=bidirectional)
        self.head = nn.Linear(8 * (2 if bidirectional else 1), 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1, :])


def _train_sequence_model(cell: str, bidirectional: bool) -> float:
    torch.manual_seed(2)
    x, y = _first_sign_task(128, 6, 0)
    model = SequenceClassifier(cell, bidirectional)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    test_x, test_y = _first_sign_task(200, 6, 1)
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


def test_gru_learns_a_toy_sequence_task() -> None:
    assert _train_sequence_model("gru", bidirectional=False) > 0.9


def test_bidirectional_lstm_learns_a_toy_sequence_task() -> None:
    assert _train_sequence_model("lstm", bidirectional=True) > 0.9


def test_lbfgs_fits_a_logistic_regression() -> None:
    x, y = _blobs(200, 3)
    target = (y == 0).float().unsqueeze(1)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=1, max_iter=50)
    criterion = nn.BCEWithLogitsLoss()

    def closure():
        optimizer.zero_grad()
        loss = criterion(model(x), target) + 1e-3 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    first = optimizer.step(closure).item()
    for _ in range(3):
        last = optimizer.step(closure).item()
    accuracy = ((model(x) > 0).float() == target).float().mean().item()
    assert last < first / 4 and accuracy > 0.95


def test_tf1_lstm_cell_fed_its_state_with_metrics() -> None:
    """A TF1 program that carries an LSTM's state across truncated windows by feeding the
    final state back in, and scores itself with tf.metrics.accuracy."""
    rng = np.random.default_rng(4)
    series = rng.standard_normal((32, 12, 1)).astype(np.float32)
    labels = (series[:, 0, 0] > 0).astype(np.int64)  # decided by the first window
    with tf.Graph().as_default():
        tf.set_random_seed(5)
        x = tf.placeholder(tf.float32, [None, 4, 1])
        y = tf.placeholder(tf.int64, [None])
        cell = tf.nn.rnn_cell.LSTMCell(16)
        init_state = cell.zero_state(32, tf.float32)
        outputs, final_state = tf.nn.dynamic_rnn(cell, x, initial_state=init_state)
        logits = tf.layers.dense(outputs[:, -1], 2)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=y, logits=logits))
        train = tf.train.AdamOptimizer(0.02).minimize(loss)
        predictions = tf.argmax(logits, 1)
        acc, acc_update = tf.metrics.accuracy(y, predictions)
        tf.summary.scalar("loss", loss)
        merged = tf.summary.merge_all()
        config = tf.ConfigProto(gpu_options=tf.GPUOptions(allow_growth=True))
        with tf.Session(config=config) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(40):
                state = sess.run(init_state)
                for start in range(0, 12, 4):
                    feed = {x: series[:, start:start + 4], y: labels, init_state: state}
                    _, state, _ = sess.run([train, final_state, merged], feed)
            sess.run(tf.local_variables_initializer())
            state = sess.run(init_state)
            for start in range(0, 12, 4):
                feed = {x: series[:, start:start + 4], y: labels, init_state: state}
                state, _ = sess.run([final_state, acc_update], feed)
            final_accuracy = sess.run(acc)
    assert isinstance(state, tf.nn.rnn_cell.LSTMStateTuple)
    assert final_accuracy > 0.9
