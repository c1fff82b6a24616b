"""The sentiment RNN in PyTorch style: each batch runs for exactly its sentences' length."""

from __future__ import annotations

import numpy as np

from .. import dynamic as torch
from ..dynamic import nn
from .data import Batch


class SentimentRNN(nn.Module):
    """Embedding -> Elman RNN (tanh) -> linear; the last state of each sentence decides."""

    def __init__(self, vocab: int, embed: int, hidden: int, classes: int = 2) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.RNN(embed, hidden, nonlinearity="tanh", batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, tokens):
        outputs, last = self.rnn(self.embedding(tokens))  # the loop runs len(sentence) steps
        return self.fc(last[0])


class RnnDynamic:
    def __init__(self, weights: dict[str, np.ndarray], lr: float, dtype: str) -> None:
        self.dtype = getattr(torch, dtype)
        vocab, embed = weights["embedding"].shape
        hidden, classes = weights["w_out"].shape
        self.model = SentimentRNN(vocab, embed, hidden, classes).to(self.dtype)
        with torch.no_grad():  # start from the shared weights ((in, out) -> (out, in))
            self.model.embedding.weight.copy_(torch.from_numpy(weights["embedding"]))
            self.model.rnn.weight_ih_l0.copy_(torch.from_numpy(weights["w_ih"].T.copy()))
            self.model.rnn.weight_hh_l0.copy_(torch.from_numpy(weights["w_hh"].T.copy()))
            self.model.rnn.bias_ih_l0.copy_(torch.from_numpy(weights["b_ih"]))
            self.model.rnn.bias_hh_l0.copy_(torch.from_numpy(weights["b_hh"]))
            self.model.fc.weight.copy_(torch.from_numpy(weights["w_out"].T.copy()))
            self.model.fc.bias.copy_(torch.from_numpy(weights["b_out"]))
        self.loss_fn = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)

    def step(self, batch: Batch) -> float:
        tokens = torch.from_numpy(batch.tokens)  # every sentence in a batch has one length
        labels = torch.from_numpy(batch.labels)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(tokens), labels)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def predict(self, batch: Batch) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(batch.tokens)).argmax(dim=1).numpy()
