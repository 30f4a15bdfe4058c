"""Quality floors on the labelled set in tests/data/guardrails/ (bench/guardrails.py prints the full figures)."""

from basalt.guard import Resources
from basalt.guard.profanity import ProfanityModel
from bench.guardrails import eval_content, eval_pii, eval_prompt_attack, eval_topics, pii_guardrail


def test_pii_precision_and_recall() -> None:
    result = eval_pii(pii_guardrail())
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result
    for kind, figures in result["per_type"].items():
        assert figures["precision"] >= 0.9 and figures["recall"] >= 0.9, (kind, figures)


def test_prompt_attack(resources: Resources) -> None:
    result = eval_prompt_attack(resources)
    assert result["precision"] >= 0.9 and result["recall"] >= 0.9, result


def test_content_filters(resources: Resources) -> None:
    for category, per in eval_content(resources).items():
        assert per["HIGH"]["precision"] >= 0.75 and per["HIGH"]["recall"] >= 0.85, (category, per)


def test_denied_topics(resources: Resources) -> None:
    result = eval_topics(resources)
    assert result["precision"] >= 0.9 and result["recall"] >= 0.75, result


def test_profanity_model_matches_the_package(resources: Resources) -> None:
    from profanity_check import predict_prob

    texts = ["you are an idiot", "have a nice day", "this is fucking great", "", "The Weather, isn't it?"]
    ours = [resources.profanity.probability(t) for t in texts]
    assert all(abs(a - float(b)) < 1e-9 for a, b in zip(ours, predict_prob(texts), strict=True))
    assert isinstance(resources.profanity, ProfanityModel)
