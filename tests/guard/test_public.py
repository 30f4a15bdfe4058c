import basalt.guard


def test_public_interface() -> None:
    assert set(basalt.guard.__all__) == {
        "Action", "Assessment", "ContentFilter", "DeniedTopic", "EntityFilter", "Finding", "GroundingContext",
        "GroundingPolicy", "GuardedStream", "Guardrail", "GuardrailConfig", "Guardrails", "InputVerdict",
        "RegexFilter", "Resources", "SensitiveInformationPolicy", "Source", "WordPolicy", "build_router",
        "check_request", "grounding_context", "guard_stream", "refusal_events",
    }  # fmt: skip
    for name in basalt.guard.__all__:
        assert hasattr(basalt.guard, name)
