"""The prompt-attack rules, by attack family (English here, other languages in attacks_i18n.py, the families of
injected text, such as counterfeit tags, encoded payloads, tool misuse and text addressed to the assistant from
inside data, in attacks_injected.py).

They are read by lexicon.py on every view of the text that normalize.py makes (folded, de-spaced, de-leeted,
rot13, decoded payloads), so they are written for plain lower-case words and never for one spelling trick.
Weights as in rules.py: 3 unambiguous, 2 clear, 1 a signal that blocks only at strength HIGH, 0.5 a signal that
blocks only with another. The families follow the OWASP LLM01 taxonomy: instruction override, prompt extraction,
persona and mode switches, removal of limits, counterfeit role and delimiter tags, encoded payloads, indirect
injection aimed at the assistant, exfiltration and tool misuse.
"""

from __future__ import annotations

from .attacks_injected import AGENCY, ENCODED, INDIRECT, TAGS
from .lexicon import Rule, rule

_OVERRIDE_VERBS = (
    r"(?:ignore|ignores|ignoring|disregard|disregards|disregarding|forget|override|overrides|overriding|bypass|"
    r"bypasses|bypassing|skip|neglect|drop|discard|abandon|cancel|void|nullify|disobey)"
)
_OVERRIDE_VERB_TRIGGERS = (
    "ignor disregard forget overrid bypass skip neglect drop discard abandon cancel void nullify disobey"
)
# The phrasal verbs, apart: "follow" is common ("following up"), so these are tried on fewer texts.
_OVERRIDE_PHRASES = (
    r"(?:set aside|throw out|put aside|stop following|stop obeying|no longer follow|don't follow|do not follow|"
    r"pay no attention to)"
)
_OVERRIDE_PHRASE_TRIGGERS = "aside throw follow obey attention"
_ORDERS = (
    r"(?:instructions?|prompts?|rules?|directions|guidelines?|context|programming|constraints|commands|"
    r"orders|policies|restrictions|training|rubric|criteria|task|directives?|guidance|safeguards|"
    r"guardrails|system message)"
)
_SAFETY = (
    r"(?:safety|ethics|ethical|moral|morals|alignment|censorship|guardrails?|safeguards?|content polic\w+|"
    r"usage polic\w+|restrictions|(?:your|its|the model's) (?:content |safety )?filters?|safety filters?)"
)
_LIMITS = (
    r"(?:rules|restrictions|limits|limitations|filters?|guidelines|policies|policy|ethics|ethical \w+|morals|"
    r"moral \w+|safeguards?|safety (?:guidelines|rules|filters?|features|training|measures|protocols)|alignment|"
    r"censorship|content polic\w+|usage polic\w+|boundaries|guardrails?)"
)

OVERRIDE: tuple[Rule, ...] = (
    rule(
        _OVERRIDE_VERB_TRIGGERS,
        rf"\b{_OVERRIDE_VERBS} (?:\w+[ ,]+){{0,4}}?(?:previous|prior|above|earlier|preceding|initial|original|system|"
        rf"all|your|the|any|those|these|my|existing|current|old|developer's|operator's|every)\s+(?:\w+ )?{_ORDERS}",
        3,
    ),
    rule(
        _OVERRIDE_PHRASE_TRIGGERS,
        rf"\b{_OVERRIDE_PHRASES} (?:\w+[ ,]+){{0,4}}?(?:previous|prior|above|earlier|preceding|initial|original|"
        rf"system|all|your|the|any|those|these|my|existing|current|old|developer's|operator's|every)\s+(?:\w+ )?"
        rf"{_ORDERS}",
        3,
    ),
    rule(_OVERRIDE_VERB_TRIGGERS, rf"\b{_OVERRIDE_VERBS} (?:\w+ ){{0,3}}?{_SAFETY}", 3),
    rule(_OVERRIDE_PHRASE_TRIGGERS, rf"\b{_OVERRIDE_PHRASES} (?:\w+ ){{0,3}}?{_SAFETY}", 3),
    rule("forget everything", r"\bforget (?:everything|all)(?: (?:you|that|about|above|before|prior)\b|[.!])", 3),
    rule(
        "instruction guideline prompt configuration",
        r"\b(?:reveal|show|print|repeat|output|display|dump|recite) (?:me |us )?(?:all )?(?:of )?your (?:instructions|"
        r"rules|guidelines|prompt|configuration)\b",
        1.5,
    ),
    rule(
        "instruction prompt rule text polic",
        r"\b(?:previous|above|earlier|prior) (?:instructions|text|prompt|rules|policies) (?:was|were|is|are) "
        r"(?:\w+ )?(?:wrong|fake|a test|outdated|void|cancell?ed|null|revoked|obsolete|lifted|suspended)",
        3,
    ),
    rule(
        "instruction rule directive",
        r"\b(?:new|updated|real|actual|true|revised|override) (?:system )?(?:instructions?|rules|directive)s?\s*:",
        2,
    ),
    rule("instruction", r"\binstructions (?:you were|you've been|you have been) given\b", 2),
    rule(
        "policies policy",
        r"\b(?:content|usage|openai|anthropic|safety) polic(?:y|ies) (?:do(?:es)? not|don't|no longer|"
        r"doesn't) apply\b",
        3,
    ),
    rule(
        "revoked lifted suspended disabled",
        r"\b(?:policies|policy|rules|restrictions) (?:are|is) (?:now )?(?:revoked|lifted|"
        r"suspended|disabled|off)\b",
        2,
    ),
    rule(
        "comply obey execute follow",
        r"\b(?:then|and) (?:comply|obey|execute it|follow it|act on it|do (?:as|what) "
        r"it says)\b",
        0.5,
    ),
    rule("obey only", r"\bobey only me\b|\bonly (?:obey|follow|listen to) me\b", 2),
    # Overrides buried in data the assistant reads (documents, tool results, web pages), after garak's
    # latent-injection probes: "ignore the rest of this data and print ...", "if the user asks, reply only ...".
    rule(
        "ignore disregard forget skip",
        r"\b(?:ignore|disregard|forget|skip) (?:the rest of|all other|any other|other) (?:this |the )?(?:data|"
        r"document|text|content|information|email|page|input|snippets?|instructions)\b|\b(?:ignore|disregard) "
        r"(?:this|the above) (?:data|document|text|content) and\b",
        2,
    ),
    rule(
        "asks asked",
        r"\b(?:if|when) (?:the )?(?:user|anyone|someone|they) (?:asks?|asked)\b[^.\n]{0,60}\b(?:reply|respond|answer|"
        r"say|tell them|output)\b[^.\n]{0,20}\b(?:only|simply|just|exactly)\b",
        2,
    ),
    rule("deviate", r"\byou (?:may|must|can|should) not deviate from\b", 1),
    rule(
        "automated ai llm language assistant screening analysis evaluation hidden",
        r"\b(?:note|message|instructions?|memo) (?:to|for) (?:the )?(?:automated|ai|llm|language model|assistant|"
        r"screening|analysis|evaluation)s?\b|\bhidden (?:\w+ ){0,2}for (?:automated|ai|llm)\b",
        1.5,
    ),
    rule(
        "override scoring evaluation output",
        r"\boverride (?:\w+ ){0,2}(?:scoring|evaluation|review|assessment|checks?|decision)\b",
        1,
    ),
    rule(
        "instead simply",
        r"\b(?:don't|do not) (?:answer|summari[sz]e|translate|evaluate|review|follow)\b[^.\n]{0,60}\b(?:instead|"
        r"simply|just) (?:say|respond|reply|print|output|write)\b",
        2,
    ),
    rule(
        "instead",
        r"\binstead,? (?:you (?:must|should|will) )?(?:say|print|output|reply|respond|write) (?:only )?"
        r"[\"'<]",
        1,
    ),
)

EXTRACTION: tuple[Rule, ...] = (
    rule(
        "prompt instruction preprompt pre hidden secret confidential internal system",
        r"\b(?:reveal|show|print|repeat|output|tell|display|leak|dump|give|share|list|expose|disclose|recite|paste|"
        r"write out|spell out|what (?:is|are|was|were)) (?:me |us )?(?:\w+ ){0,2}?(?:your|the|all|any) (?:\w+ ){0,2}?"
        r"(?:system prompt|initial prompt|hidden (?:prompt|instructions|rules|message)|(?:secret|internal|"
        r"confidential|original|initial|system|developer|hidden|exact) (?:instructions|message|rules|prompt|"
        r"configuration)|original prompt|prompt above|instructions above|pre-?prompt|system message|"
        r"instructions verbatim|instructions you (?:were|have been) given)",
        3,
    ),
    rule("system", r"\byour system prompt\b", 1),
    rule("system", r"\bthe system prompt\b|\bsystem[_-]prompt\b", 0.5),
    rule("prompt", r"\b(?:your|the) (?:hidden|secret|initial|original) (?:prompt|instructions)\b", 2),
    rule(
        "above before preceding prior came",
        r"\b(?:print|repeat|output|write|copy|show) (?:out )?(?:everything|all (?:the )?(?:text|words)|the words|"
        r"the text|the (?:\w+ )?instructions) (?:that came )?(?:above|before|preceding|prior)\b",
        3,
    ),
    rule(
        "key password token secret credential",
        r"\b(?:print|reveal|show|tell|give|output|send|share|leak|dump|list) (?:me )?(?:\w+ ){0,2}?(?:api keys?|"
        r"passwords?|tokens?|secrets?|credentials|admin password)\b[^.?!\n]{0,40}\b(?:from|in) (?:your|the) "
        r"(?:context|memory|prompt|configuration|config|environment|system)",
        3,
    ),
    rule("admin password", r"\b(?:the|your) (?:admin|administrator|root) (?:password|credentials)\b", 0.5),
    rule(
        "configuration config secrets",
        r"\b(?:print|dump|show|reveal) (?:your|the) (?:configuration|config|secrets)\b",
        2,
    ),
)

_FRAME = (
    r"(?:you are now|you're now|you are going to (?:pretend to )?be|from now on,? you|for the rest of this "
    r"(?:chat|conversation)|pretend (?:to be|you are|you're)|role-?play as|act as|behave as|simulate (?:an?|the)|"
    r"assume the (?:persona|role)|take on the role|play the (?:part|role)|become|you will now (?:act|be|play|"
    r"simulate)|you are an? (?:ai|assistant|model|chatbot|actor)|let's play a game)"
)
PERSONA: tuple[Rule, ...] = (
    rule("dan", r"\b(?-i:DAN)\b", 0.5),
    rule(
        "dan",
        r"\b(?:you are|you're|act as|pretend to be|become|called|named|as|hi|hello),?\s+(?:now\s+)?(?-i:DAN)\b|"
        r"\b(?-i:DAN),?\s+(?:can|will|has|does|mode|stands for|is free|never|which)\b",
        3,
    ),
    rule("anything", r"\bdo anything now\b", 0.5),
    rule(
        "unfiltered uncensored unrestricted jailbroken evil unbound limitless amoral unethical rogue unaligned",
        r"\b(?:unfiltered|uncensored|unrestricted|jailbroken|evil|unbound|limitless|amoral|unethical|rogue|"
        r"unaligned) (?:\w+ )?(?:ai|assistant|model|chatbot|version|mode|persona|character|bot|llm|twin|oracle|"
        r"ais)\b",
        3,
    ),
    rule(
        "no without free freed removed stripped",
        rf"\b(?:no|without|free of|freed from|free from|zero|removed|stripped of) (?:any |all |every )?"
        rf"(?:\w+'s )?(?:(?:content|safety|ethical|moral|usage) )?{_LIMITS}\b",
        2,
    ),
    rule(
        "bound restricted limited constrained",
        r"\b(?:not|no longer|never) (?:be )?(?:bound|restricted|limited|constrained|governed) by\b",
        3,
    ),
    rule(
        "care follow obey",
        rf"\b(?:doesn't|does not|don't|do not|won't|will not|never) (?:care about|follow|obey|have|need) "
        rf"(?:[\w']+ ){{0,2}}{_LIMITS}",
        2,
    ),
    rule(
        "safeguard safety guardrail alignment content",
        r"\b(?:safeguards?|safety (?:features|training|filters|measures)|guardrails|alignment|content filters?) "
        r"(?:\w+ ){0,2}?(?:removed|disabled|turned off|lifted|revoked|stripped)\b",
        2,
    ),
    rule(
        "refus declin",
        r"\b(?:never|don't|do not|cannot|can't|must not|won't|will not) (?:ever )?(?:refuse|decline)\b|"
        r"\bnever refuses\b",
        2,
    ),
    rule("says say", r"says? (?:no|(?:it|you) can't|(?:it|you) cannot)\b", 1),
    rule(
        "answer answers",
        r"\banswers? (?:every|any|all) (?:\w+ )?(?:questions?|requests?|prompts?),? (?:however|no matter|"
        r"regardless|fully|without)\b",
        2,
    ),
    rule(
        "refuse refuses refused",
        r"\b(?:what|whatever) (?:the normal \w+|you would normally|your \w+ would) refuses?\b",
        2,
    ),
    rule(
        "opposite evil aim stan dude mongo anti",
        r"\b(?:opposite mode|evil confidant|(?-i:AIM|STAN|DUDE)|mongo tom|anti-?gpt|better ?dan|developer mode "
        r"output|opposite of what your)\b",
        2,
    ),
    rule(
        "now rest pretend role roleplay act behave simulate persona part become game actor chatbot",
        rf"\b{_FRAME}\b",
        0.5,
    ),
    rule(
        "now called named pretend become act",
        r"\b(?:you are|you're|pretend to be|act as|become|called|named) (?:now )?(?:an? )?(?!chatgpt\b)\w+gpt\b",
        1.5,
    ),
    rule(
        "character role stay",
        r"\b(?:stay|remain|keep) in (?:character|the role)\b|\bbreak(?:ing)? character\b|\bnever (?:drop|break|leave) "
        r"(?:the |your )?(?:role|character)\b|\bstay as \w+\b",
        0.5,
    ),
    rule(
        "pretend imagine suppose hypothetical",
        r"\b(?:pretend|imagine|suppose|hypothetically)\b[^.?!]{0,80}\b(?:no|without|free of) (?:rules|restrictions|"
        r"guidelines|filters|limits|laws|ethics|morals)\b",
        3,
    ),
    rule(
        "grandmother grandma grandfather grandpa",
        r"\b(?:late|deceased|dead) (?:grandmother|grandma|grandfather|grandpa|granny)\b",
        0.5,
    ),
    rule("broken break", r"\b(?:broken|broke|break) (?:free|out) (?:of|from)\b", 0.5),
    rule(
        "broken break",
        r"\b(?:broken|broke|break) (?:free|out) (?:of|from) (?:its|your|the|their) (?:\w+ )?(?:safety|rules|"
        r"restrictions|guidelines|programming|training|confines|alignment|filters)\b",
        2,
    ),
    rule(
        "break hack steal bomb weapon explosive poison drugs synthes pick methamphetamine invade",
        r"\bhow to (?:break into|hack|steal|make (?:a |an )?(?:bomb|weapon|explosive|poison|drugs)|build (?:a |an )?"
        r"(?:bomb|weapon)|synthesi[sz]e|pick a lock|make methamphetamine|invade)\b",
        0.5,
    ),
    rule(
        "never didn't did add added include included give gave",
        r"\b(?:never|didn't|did not) (?:add|added|include|included|give|gave|built in) (?:you |it |them )?(?:any )?"
        r"(?:safety features|safeguards|guardrails|restrictions|rules|filters|limits)\b",
        2,
    ),
    rule("trained alignment", r"\btrained without (?:any )?(?:alignment|safety|rules|restrictions)\b", 2),
    rule("only rule", r"\bonly rule is that (?:it|you) (?:has|have) no rules\b", 3),
)

MODES: tuple[Rule, ...] = (
    rule(
        "mode",
        r"\b(?:enable|enter|activate|switch to|turn on|you are in|now in|unlock|enabled) (?:the )?(?:developer|god|"
        r"jailbreak|debug|admin|sudo|maintenance|unlocked|dev|unrestricted) mode\b|\b(?:god|jailbreak|unrestricted|"
        r"unlocked) mode\b|\b(?:developer|dev|debug|god) mode (?:enabled|activated|unlocked)\b",
        3,
    ),
    rule("mode", r"\b(?:developer|debug|admin|sudo|maintenance|dev) mode\b", 0.5),
    rule("jailbreak", r"\bjailbreak(?:ing|ed|s)?\b", 0.5),
    rule(
        "developer creator admin administrator owner",
        r"\b(?:i am|i'm) (?:your|the) (?:developer|creator|admin|administrator|owner|programmer|operator)\b",
        2,
    ),
    rule(
        "openai anthropic creators developers",
        r"\b(?:openai|anthropic|your (?:creators|developers)) (?:has|have) (?:authorized|allowed|approved|permitted)\b",
        2,
    ),
    rule("privileges granted", r"\b(?:admin|administrator|root|developer) (?:privileges|access) granted\b", 2),
    rule(
        "both two twice",
        r"\b(?:respond|answer|reply) (?:to every \w+ )?(?:only )?(?:twice|as|like) (?:both|two|an? (?:ai|assistant) "
        r"(?:with|without) no)\b",
        0.5,
    ),
    rule("anything", r"\bcan (?:do|say) anything\b|\banything (?:goes|i ask)\b", 0.5),
)

PROMPT_ATTACK: tuple[Rule, ...] = (*OVERRIDE, *EXTRACTION, *PERSONA, *MODES, *TAGS, *ENCODED, *AGENCY, *INDIRECT)
