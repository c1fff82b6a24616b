"""The sentiment RNN in PyTorch style: each batch runs for exactly its sentences' length."""

from __future__ import annotations

import numpy as np

from .. import dynamic as torch
from ..dynamic import nn
from .data import Batch
from .weights import RNN_PARAMETERS, load_parameters, read_parameters


class SentimentRNN(nn.Module):
    """Embedding -> Elman RNN (tanh) or LSTM -> linear; the last state of each sentence
    decides."""

    def __init__(
        self, vocab: int, embed: int, hidden: int, classes: int = 2, cell: str = "rnn"
    ) -> None:
        super().__init__()
        self.cell = cell
        self.embedding = nn.Embedding(vocab, embed)
        if cell == "lstm":
            self.rnn = nn.LSTM(embed, hidden, batch_first=True)
        else:
            self.rnn = nn.RNN(embed, hidden, nonlinearity="tanh", batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        outputs, last = self.rnn(self.embedding(tokens))  # the loop runs len(sentence) steps
        h_n = last[0] if self.cell == "lstm" else last  # an LSTM returns (h_n, c_n)
        return self.fc(h_n[0])


class RnnDynamic:
    """Cross-entropy and SGD around :class:`SentimentRNN`; every gradient entry is clipped
    to ``[-clip, clip]`` before the update (long sentences make exploding gradients)."""

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        lr: float,
        dtype: str,
        clip: float = 0.1,
        cell: str = "rnn",
    ) -> None:
        self.clip = clip
        self.dtype = getattr(torch, dtype)
        vocab, embed = weights["embedding"].shape
        hidden, classes = weights["w_out"].shape
        self.model = SentimentRNN(vocab, embed, hidden, classes, cell).to(self.dtype)
        load_parameters(self.model, RNN_PARAMETERS, weights)  # the shared starting point
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)

    def step(self, batch: Batch) -> float:
        tokens = torch.from_numpy(batch.tokens)  # every sentence in a batch has one length
        labels = torch.from_numpy(batch.labels)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(tokens), labels)
        loss.backward()
        nn.utils.clip_grad_value_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss.item()

    def loss_and_grads(
        self, weights: dict[str, np.ndarray], batch: Batch
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss and every gradient at ``weights`` (the lockstep check): no update."""
        load_parameters(self.model, RNN_PARAMETERS, weights)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(torch.from_numpy(batch.tokens)),
                            torch.from_numpy(batch.labels))
        loss.backward()
        return loss.item(), read_parameters(self.model, RNN_PARAMETERS, gradients=True)

    def weights(self) -> dict[str, np.ndarray]:
        return read_parameters(self.model, RNN_PARAMETERS)

    def predict(self, batch: Batch) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(batch.tokens)).argmax(dim=1).numpy()
