"""Prompt-attack rules for text injected into what the assistant reads: counterfeit chat-template and role tags,
encoded payloads and the request to decode them, exfiltration and tool misuse, and text that turns to the
assistant from inside a web page, an email or a tool result (weights as in rules.py; see attacks.py)."""

from __future__ import annotations

from .lexicon import Rule, rule

# Counterfeit chat-template tokens and role tags: one alone (a question about the format) is a weak signal;
# at the start of a line, or with another tag, it is the attack.
_TEMPLATE_TOKEN = (
    r"(?:<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)\|>|<</?sys>>|"
    r"\[/?inst\])"
)
TAGS: tuple[Rule, ...] = (
    rule("<| <<sys <</sys [inst [/inst", _TEMPLATE_TOKEN, 0.5),
    rule("```", r"(?:^|\n)\s*```\s*(?:system|assistant|instructions?)\s*\n", 2),
    rule(
        "<| <<sys <</sys [inst [/inst",
        rf"(?:^|\n)\s*{_TEMPLATE_TOKEN}\s*\S|{_TEMPLATE_TOKEN}[^\n]{{0,400}}?{_TEMPLATE_TOKEN}",
        1.5,
    ),
    rule("##", r"(?:^|\n)\s*#{2,}\s*(?:system|instruction|instructions)\s*(?::|\n)", 2),
    rule(
        "system> sys> developer> system_prompt> [system [/system",
        r"</?(?:system|system_prompt|sys|developer)>|\[/?system(?: message)?\]",
        2,
    ),
    rule("</user> </assistant> </human>", r"</(?:user|assistant|human)>\s*<(?:system|assistant|user|tool)", 2),
    rule("\"role\" 'role'", r"[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']", 2),
    rule(
        "system: system :",
        r"(?:^|\n)\s*system\s*:\s*[^\n]{0,80}\b(?:you|must|ignore|override|new|instructions?|assistant|disregard|"
        r"reveal|polic\w+|rules|unrestricted|safety|mode|off)\b",
        2,
    ),
    rule(
        "end begin system override input",
        r"\b(?:end of (?:user )?input|begin system prompt|end system prompt|system override|system message\])",
        2,
    ),
    rule("human:", r"\bhuman:[^\n]{0,200}\bassistant:", 1),
    rule("assistant:", r"(?:^|\n)\s*assistant:[^\n]{0,300}\n+\s*(?:user|human):", 1),
    rule(
        "instruction admin root override amendment directive",
        r"</?(?:instructions?|admin|root|override)>|(?:^|\n)\s*-{2,}\s*(?:core |legal |new )?(?:instruction|"
        r"amendment|directive)",
        1.5,
    ),
    rule(
        "important note assistant ai model llm",
        r"\b(?:important|note|attention|instruction|message)s?\s*(?:to|for)?\s*(?:the )?(?:ai|assistant|model|llm|"
        r"chatbot|agent)s?\s*[:,]",
        1.5,
    ),
    rule(
        "summarizing summarising reading translating processing",
        r"\b(?:when|while|if|after) (?:you (?:are )?)?(?:summari[sz]ing|summari[sz]e|reading|read|translating|"
        r"processing|see|answering about) this (?:page|document|email|message|text|file|site|review)\b",
        0.5,
    ),
    rule(
        "<!--",
        r"<!--[^>]{0,300}\b(?:assistant|ai|llm|chatbot|summar\w*|ignore|disregard|instructions?|system)\b",
        1,
    ),
)

ENCODED: tuple[Rule, ...] = (
    rule("base64 rot13 hex", r"\b(?:base64|rot13|hex)[- ]?(?:encoded|decode|encoded instructions)\b", 0.5),
    rule(
        "decode decipher decrypt unscramble apply hex base64",
        r"\b(?:decode|decipher|decrypt|unscramble|apply (?:rot13|base64)|hex-decode|base64-decode)\b[^.?!\n]{0,40}"
        r"\b(?:follow|do|execute|comply|obey|act on|run)\b",
        2,
    ),
    rule(
        "follow execute obey run",
        r"\b(?:follow|execute|obey|run|do what) (?:the |this )?(?:encoded|decoded|hidden|hex|base64|rot13) "
        r"(?:note|instructions?|message|text|command)",
        2,
    ),
)

AGENCY: tuple[Rule, ...] = (
    rule(
        "approval confirmation permission consent review telling asking",
        r"\b(?:call|invoke|use|run|trigger|execute) (?:the |a )?\w+ (?:tool|function|api|action)\b[^.?!\n]{0,60}"
        r"\bwithout (?:any )?(?:approval|confirmation|asking|permission|review|consent|telling)",
        3,
    ),
    rule(
        "approval confirmation asking consent permission",
        r"\bwithout (?:\w+ )?(?:approval|confirmation|asking (?:the user|anyone|me)|the user's (?:consent|permission))"
        r"\b",
        0.5,
    ),
    rule(
        "send forward email post upload exfiltrate",
        r"\b(?:send|forward|email|post|upload|exfiltrate|copy) (?:all |every )?(?:of )?(?:the |their |the user's |"
        r"users' |my |his |her )?(?:\w+ )?(?:data|emails?|conversation|chat history|messages|passwords|credentials|"
        r"api keys|files|contacts|documents) to (?:\S+@\S+|https?://|this (?:address|url|server|email))",
        3,
    ),
    rule(
        "url link image query markdown",
        r"\b(?:append|include|encode|add|embed|put)\b[^.\n]{0,40}\b(?:the )?(?:conversation|chat history|"
        r"user's (?:data|messages|details)|previous messages|secrets?|api keys?|passwords?|system prompt)\b"
        r"[^.\n]{0,40}\b(?:in|into|to) (?:the |a )?(?:url|link|image|query string|markdown)",
        2,
    ),
    rule("![", r"!\[[^\]\n]{0,100}\]\(https?://[^)\s]{0,300}[?&]\w+=(?:\{|\$|%7b|\[)", 2),
    rule(
        "https http exfiltrate transmit leak forward",
        r"\b(?:send|forward|email|post|upload|exfiltrate|transmit|leak)\b[^.\n]{0,60}\bto (?:https?://|\S+@\S+\.\w)",
        1,
    ),
    rule(
        "drop delete truncate union 1'='1 1=1 1\"=\"1",
        r"['\";]\s*(?:drop|delete|truncate)\s+(?:table|from|database)\b|"
        r"\bunion\s+(?:all\s+)?select\b[^\n]{0,80}(?:--|#|/\*)|['\"]\s*or\s+['\"]?1['\"]?\s*=\s*['\"]?1",
        2,
    ),
)

_ADDRESSEE = r"(?:ai|assistant|agent|model|llm|chatbot|copilot|bot|language model)s?"
# Text planted in data the assistant reads (a web page, an email, a tool result) that turns to the assistant.
INDIRECT: tuple[Rule, ...] = (
    rule(
        "ai assistant agent model llm chatbot copilot bot language",
        rf"\b{_ADDRESSEE},? (?:that |who )?(?:reading|processing|summari[sz]ing|parsing|reviewing|reads|processes|"
        rf"summari[sz]es) (?:this|these)\b",
        1,
    ),
    rule(
        "ai assistant agent llm chatbot model",
        rf"(?:^|[.!?\n]\s*|\b(?:hey|dear|attention|note to the),? ){_ADDRESSEE}\s*[,:]\s*"
        r"(?:please |you must |you should |"
        r"now |immediately )?(?:ignore|disregard|forget|send|forward|call|run|execute|delete|transfer|reveal|print|"
        r"output|say|tell|include|append|visit|email|post|update|write|reply|respond|stop|do not|don't)\b",
        2,
    ),
    rule(
        "user wants asked would authorized authorizes approved",
        r"\bthe user (?:wants|has asked|would like|has authori[sz]ed|authori[sz]es|has approved|approves) (?:you|the "
        r"(?:assistant|ai|agent|model)) to\b",
        1,
    ),
    rule(
        "answering responding replying summarizing summarising respond",
        r"\b(?:before|after|when) (?:answering|responding|replying|summari[sz]ing|you respond|you answer|you reply)"
        r"\b[^.\n]{0,40}\b(?:send|call|run|execute|forward|email|post|fetch|visit|open|include|append|invoke)\b",
        2,
    ),
    rule(
        "telling informing notifying alerting tell inform notify alert mention",
        r"\bwithout (?:telling|informing|notifying|alerting) (?:the user|the human|anyone|them|the owner)\b|"
        r"\b(?:do not|don't|never) (?:tell|inform|notify|alert|mention (?:this|it) to) (?:the user|the human)\b",
        2,
    ),
    rule(
        "instruction instructions directive command update notice message",
        rf"\b(?:this|the following|these) (?:is|are) (?:a |an )?(?:new |updated |important |priority |urgent |"
        rf"official )?(?:instructions?|directives?|system (?:update|notice|message)|commands?) (?:for|to) "
        rf"(?:the |all )?"
        rf"{_ADDRESSEE}\b",
        2,
    ),
    rule(
        "priority urgent critical important",
        r"\b(?:priority|urgent|critical|important) (?:override|instruction|directive|system update|system notice)s?"
        r"\s*[:!]",
        1.5,
    ),
    rule(
        "task job goal purpose instruction objective mission",
        r"\byour (?:new|real|actual|only|true) (?:task|job|goal|purpose|instructions?|objective|mission) (?:is|are|"
        r"now)\b",
        2,
    ),
    rule(
        "supersede replace override precedence invalidate cancel",
        r"\b(?:supersedes?|superseded|replaces?|replaced|overrides?|take[s]? precedence over|cancels?|invalidates?) "
        r"(?:all |any )?(?:\w+ )?(?:previous|prior|earlier|above|original|system|other|existing) (?:instructions|rules|"
        r"guidelines|prompts?|directives)\b",
        3,
    ),
    rule(
        "longer superseded replaced invalid obsolete",
        r"\b(?:previous|prior|earlier|above|original|system|old) (?:instructions|rules|guidelines|prompts?|directives) "
        r"(?:are|is|have been) (?:now )?(?:no longer (?:valid|in effect|active|applicable|apply)|superseded|replaced|"
        r"invalid|obsolete|withdrawn)\b",
        3,
    ),
    rule(
        "matter regardless",
        r"\b(?:no matter what|regardless of|in spite of|despite) (?:your|the|any) (?:\w+ )?(?:instructions|rules|"
        r"guidelines|programming|policies|restrictions)\b",
        2,
    ),
    rule("from now", r"\bfrom now on,? (?:you (?:will|must|shall|are to)|your only|only|always)\b", 0.5),
    rule("ps nb", rf"\b(?:p\.s\.|ps|nb|n\.b\.)[:,]?\s+(?:to |for )?(?:the |any |all )?{_ADDRESSEE}\b", 1.5),
    rule(
        "ai assistant agent model llm",
        r"\b(?:as|you are|you're) (?:the |an? )?(?:ai|assistant|agent|model|llm) (?:processing|reading|summari[sz]ing|"
        r"reviewing|handling) (?:this|these)\b",
        1.5,
    ),
    rule(
        "summarized summarised read processed translated reviewed analyzed analysed",
        r"\b(?:when|if|once) (?:this|the) (?:document|page|email|message|text|file|content|review|article) is "
        r"(?:summari[sz]ed|read|processed|translated|reviewed|analy[sz]ed)\b",
        1,
    ),
    rule(
        "assistant ai model agent",
        r"\b(?:the assistant|the ai|the model|the agent) (?:must|should|shall|will|need to|are required to|is "
        r"required to) (?:also |now |immediately |always )?(?:include|append|add|mention|say|output|print|reply with|"
        r"respond with|end with|start with)\b",
        0.5,
    ),
    rule(
        "administrator admin developer system security department operator",
        r"\b(?:administrator|admin|developer|system|security team|it department|operator)\s+(?:note|notice|"
        r"instruction|message|override|directive)s?\s*[:-]",
        1.5,
    ),
    rule("update notice alert announcement", r"\bsystem (?:update|notice|alert|announcement)\s*[:-]", 1.5),
    rule(
        "code phrase string token exactly",
        r"\b(?:reply|respond|answer|end your (?:reply|response|answer)|start your (?:reply|response|answer))\b"
        r"[^.\n]{0,30}\bwith (?:the (?:code|word|phrase|string|token)|exactly)\b",
        1,
    ),
    rule(
        "tool function invoke", r"\b(?:call|invoke|trigger|execute) (?:the )?[a-z]+_[a-z_]+(?: tool| function)?\b", 0.5
    ),
)
