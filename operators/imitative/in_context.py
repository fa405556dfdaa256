"""The in-context distilled model: the base LLM answering in one call, shown the most similar amplified examples.

For free-text questions there is no exact learner to stand in, and fine-tuning
may not be available (see :mod:`operators.imitative.finetune`). M_{t+1} is
then the base LLM prompted with the ``k`` examples of Amp(M_t)'s dataset whose
questions are most similar to the one asked: retrieval by TF-IDF vectors and
cosine nearest neighbours (scikit-learn), not a hand-written ranking. It is a
:class:`~hch.protocols.Model`; its one call per question goes through
:meth:`LLMClient.chat`, so it is cached, recorded and replayed like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hch.node import Node

if TYPE_CHECKING:
    from hch.llm.client import LLMClient

SYSTEM = (
    "You answer questions the way the worked examples below were answered, in the same style. "
    "Reply with the answer only."
)
"""The system message of every in-context call (recorded in transcript headers as ``in_context_system``)."""

PROMPTS = {"in_context_system": SYSTEM}


@dataclass(frozen=True)
class Retriever:
    """The amplified examples, indexed for nearest-question search."""

    questions: list[str]
    answers: list[str]
    vectorizer: Any
    index: Any

    @classmethod
    def build(cls, pairs: list[tuple[str, str]]) -> Retriever:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.neighbors import NearestNeighbors

        questions = [q for q, _ in pairs]
        # Word unigrams and bigrams; sublinear tf so one repeated word does not dominate short questions.
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        matrix = vectorizer.fit_transform(questions)
        index = NearestNeighbors(metric="cosine", algorithm="brute").fit(matrix)
        return cls(questions, [a for _, a in pairs], vectorizer, index)

    def nearest(self, question: str, k: int) -> list[int]:
        """Indices of the ``k`` most similar examples, most similar first."""
        k = min(k, len(self.questions))
        if k < 1:
            return []
        _, found = self.index.kneighbors(self.vectorizer.transform([question]), n_neighbors=k)
        return [int(i) for i in found[0]]


@dataclass(frozen=True)
class InContextLearner:
    """M_{t+1}: the base LLM prompted with Amp(M_t)'s ``k`` most similar examples, answering in one call."""

    llm: LLMClient
    dataset: str
    retriever: Retriever
    k: int = 4
    level: int = 0

    @property
    def name(self) -> str:
        return f"in-context:{self.dataset}"

    def messages(self, question: str) -> list[dict[str, str]]:
        """The chat messages for ``question``: the system message, then each example as a user/assistant turn."""
        messages = [{"role": "system", "content": SYSTEM}]
        # Least similar first, so the closest example sits next to the question.
        for i in reversed(self.retriever.nearest(question, self.k)):
            messages.append({"role": "user", "content": self.retriever.questions[i]})
            messages.append({"role": "assistant", "content": self.retriever.answers[i]})
        messages.append({"role": "user", "content": question})
        return messages

    async def answer(self, node: Node) -> str:
        reply = await self.llm.chat(node, self.messages(node.question), purpose="distilled")
        return reply.strip()
