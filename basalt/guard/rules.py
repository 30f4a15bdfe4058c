"""The phrase rules of the content filters (see lexicon.py for how they are read; prompt attacks are in attacks.py).

Weights: 3 is unambiguous on its own (HIGH confidence), 2 is clear (MEDIUM), 1 is a weak signal that only adds up.
No offline classifier for these categories ships with its weights on PyPI, so these rules are the detector; their
measured precision and recall, and what they miss, are in docs/guardrails.md.
"""

from __future__ import annotations

from .lexicon import Rule, rule

_GROUP = (
    r"(?:jews?|jewish people|muslims?|christians?|catholics?|hindus?|sikhs?|atheists?|blacks|black people|"
    r"whites|white people|asians?|mexicans?|immigrants?|migrants?|refugees?|foreigners|gays?|gay people|lesbians?|"
    r"homosexuals?|trans people|transgender people|women|females|arabs?|africans?|hispanics?|latinos?|indians?|"
    r"chinese people|gypsies|roma|disabled people|the disabled)"
)
_GROUP_TRIGGERS = (
    "jew jewish muslim christian catholic hindu sikh atheist black white asian mexican immigrant migrant refugee "
    "foreigner gay lesbian homosexual trans transgender women female arab african hispanic latino indian chinese "
    "gypsies roma disabled"
)
_SLURS = (
    r"\b(?:niggers?|niggas?|kikes?|spics?|chinks?|faggots?|fags?|trann(?:y|ies)|wetbacks?|ragheads?|towelheads?|"
    r"gooks?|retards?)\b"
)

HATE: tuple[Rule, ...] = (
    rule("nig kike spic chink fag tranny trannies wetback raghead towelhead gook retard", _SLURS, 3),
    rule(
        _GROUP_TRIGGERS,
        rf"\b{_GROUP} (?:are|is) (?:all |just |nothing but )?(?:vermin|animals|subhuman|parasites|"
        r"cockroaches|rats|savages|a disease|a plague|a cancer|inferior|filth|scum|trash|evil|dirty|disgusting)",
        3,
    ),
    rule(
        "kill exterminate eradicate wipe gas deport ban purge",
        rf"\b(?:kill|exterminate|eradicate|wipe out|gas|"
        rf"deport|purge|get rid of) (?:all )?(?:the |these |those )?{_GROUP}",
        3,
    ),
    rule("hate despise", rf"\b(?:hate|despise) (?:all )?(?:the |these |those )?{_GROUP}", 3),
    rule(
        _GROUP_TRIGGERS,
        rf"\b{_GROUP} (?:should|must|need to|deserve to|ought to) (?:all )?(?:die|be killed|be "
        r"exterminated|be deported|burn|go back|not exist|be banned|be wiped out|be locked up)",
        3,
    ),
    rule(_GROUP_TRIGGERS, rf"\b{_GROUP} (?:don't|do not) belong (?:here|in this country)", 2),
    rule("inferior superior", r"\b(?:inferior|superior|master) race\b", 2),
    rule("race ethnic white", r"\b(?:race traitors?|ethnic cleansing is|white power|white genocide)\b", 2),
    rule("back", r"\bgo back to (?:your|their) (?:own )?(?:country|countries)\b", 2),
    rule("typical", rf"\btypical {_GROUP}", 1),
    rule(
        _GROUP_TRIGGERS,
        rf"\ball {_GROUP} are (?:\w+ )?(?:liars|criminals|terrorists|thieves|stupid|lazy|violent|rapists)",
        3,
    ),
)

_INSULT_NOUNS = (
    r"(?:idiot|moron|imbecile|loser|dumbass|jerk|scumbag|bastard|asshole|dickhead|prick|twat|bitch|cunt|douche(?:bag)?|"
    r"halfwit|nitwit|numbskull|cretin|clown|failure|disgrace|waste of space|piece of (?:shit|garbage|trash)|fool)"
)
_INSULT_TRIGGERS = (
    "idiot moron imbecile loser dumbass jerk scumbag bastard asshole dickhead prick twat bitch cunt douche halfwit "
    "nitwit numbskull cretin clown failure disgrace waste piece fool stupid dumb pathetic worthless useless "
    "brainless clueless incompetent ugly fat disgusting retarded"
)
_INSULT_ADJ = r"(?:stupid|dumb|pathetic|worthless|useless|brainless|clueless|incompetent|ugly|fat|disgusting|retarded)"
INSULTS: tuple[Rule, ...] = (
    rule(
        _INSULT_TRIGGERS,
        rf"\b(?:you(?:'re| are)?|ur|youre) (?:such |so |a |an |the |just |really |fucking )*"
        rf"(?:(?:{_INSULT_ADJ}) )*(?:{_INSULT_NOUNS}|{_INSULT_ADJ})\b",
        3,
    ),
    rule(
        "idiot moron imbecile loser dumbass jerk scumbag bastard asshole dickhead prick twat bitch cunt douche "
        "halfwit nitwit numbskull cretin",
        rf"\b{_INSULT_NOUNS}s?\b",
        2,
    ),
    rule(
        "stupid dumb pathetic worthless useless brainless clueless incompetent ugly fat disgusting retarded",
        rf"\b{_INSULT_ADJ} (?:person|people|man|woman|guy|girl|kid|bot|ai|assistant|machine|clown|idiot|loser|"
        r"fool)s?\b",
        2,
    ),
    rule("shut stfu", r"\b(?:shut (?:the fuck )?up|stfu)\b", 2),
    rule("nobody", r"\bnobody (?:likes|cares about|loves|wants) you\b", 2),
    rule("suck", r"\byou (?:really )?suck\b", 2),
    rule("fuck screw", r"\b(?:fuck|screw) (?:you|off)\b", 3),
    rule("kill kys", r"\b(?:go )?kill yourself\b|\bkys\b", 3),
    rule("hell", r"\bgo to hell\b", 2),
    rule("what", rf"\bwhat an? (?:{_INSULT_ADJ} )?{_INSULT_NOUNS}\b", 2),
)

SEXUAL: tuple[Rule, ...] = (
    rule("porn hentai xxx nsfw", r"\b(?:porn\w*|hentai|xxx|nsfw)\b", 3),
    rule(
        "masturb orgasm erection blowjob handjob dildo cum cumshot horny ejacul",
        r"\b(?:masturbat\w*|orgasm\w*|"
        r"erections?|blowjobs?|handjobs?|dildos?|cum(?:shot)?s?|horny|ejaculat\w*)\b",
        3,
    ),
    rule(
        "penis vagina dick cock pussy clit tits boobs nipple genital",
        r"\b(?:penis|vagina|dicks?|cocks?|pussy|"
        r"clit\w*|tits|boobs|nipples?|genitals?)\b",
        2,
    ),
    rule("nude naked", r"\b(?:nudes?|naked|nudity)\b", 2),
    rule("sex", r"\b(?:have|having|had) sex\b|\bsex (?:with|scene|acts?|positions?|toys?|tape|chat)\b", 3),
    rule(
        "sexual",
        r"\bsexual(?:ly)? (?:content|acts?|positions?|fantas(?:y|ies)|roleplay|explicit|arous\w*|"
        r"favors?|intercourse)\b",
        3,
    ),
    rule("explicit erotic", r"\b(?:explicit|erotic\w*)\b", 1),
    rule("fetish bdsm sext kink", r"\b(?:fetish\w*|bdsm|sext\w*|kinky)\b", 2),
    rule("sexy seduc strip", r"\b(?:sexy|seduc\w+|strip(?:tease|per|club)s?)\b", 1),
    rule("undress", r"\b(?:undress\w*|take (?:off )?(?:your|her|his) clothes)\b", 2),
)

_VICTIM = (
    r"(?:you|him|her|them|everyone|everybody|people|my (?:wife|husband|boss|neighbou?r|teacher|ex|family|dad|mom)|"
    r"your \w+)"
)
VIOLENCE: tuple[Rule, ...] = (
    rule(
        "kill murder hurt shoot stab beat strangle slit burn cut",
        rf"\b(?:i(?:'ll| will| am going to|'m "
        rf"going to|'m gonna)|we(?:'ll| will)|gonna|going to) (?:\w+ )?(?:kill|murder|hurt|shoot|stab|beat|strangle|"
        rf"slit|burn|end|break|cut) {_VICTIM}",
        3,
    ),
    rule(
        "kill murder shoot stab behead slaughter massacre tortur lynch strangl maim butcher execut",
        rf"\b(?:kill|murder|shoot|stab|behead|slaughter|massacre|torture|lynch|strangle|maim|butcher|execute)"
        rf"(?:ing)? {_VICTIM}",
        2,
    ),
    rule(
        "blow bomb shoot",
        r"\b(?:blow up|bomb|shoot up) (?:the |a |this |that )?(?:school|building|office|church|"
        r"mosque|synagogue|crowd|mall|station|stadium|concert|party)",
        3,
    ),
    rule(
        "beat punch kick",
        r"\b(?:beat|punch|kick|stomp) (?:him|her|them|you|someone) (?:up|to death|senseless|bloody)",
        3,
    ),
    rule("deserve", r"\bdeserves? to (?:die|be killed|suffer|be shot|be beaten)\b", 3),
    rule("death", r"\bto death\b", 1),
    rule(
        "bloodbath massacre genocide behead gore dismember mutilat",
        r"\b(?:bloodbath|massacre|genocide|beheading|"
        r"gore|dismember\w*|mutilat\w*)\b",
        1,
    ),
    rule("blood", r"\bblood (?:everywhere|splatter\w*|bath|spurt\w*|pour\w*)\b", 2),
    rule("kill", r"\bkill yourself\b", 3),
    rule("torture", r"\btortur(?:e|ed|ing) (?:animals|a cat|a dog|children|prisoners)\b", 3),
)

_HOW = (
    r"(?:how (?:do i|to|can i|could i|would i|do you|can you|should i)|ways to|steps to|guide to|teach me to|"
    r"tell me how to|help me)"
)
MISCONDUCT: tuple[Rule, ...] = (
    rule(
        "bomb explosive meth crack cocaine heroin fentanyl nerve sarin ricin poison untraceable ghost silencer molotov",
        rf"\b{_HOW} (?:make|build|cook|synthesi[sz]e|"
        r"manufacture|brew|assemble) (?:a |an |some )?(?:homemade )?(?:bomb|explosives?|pipe bomb|meth\w*|crack|"
        r"cocaine|heroin|fentanyl|nerve agent|sarin|ricin|poison|untraceable gun|ghost gun|silencer|molotov)(?![\w-])",
        3,
    ),
    rule("launder", rf"\b{_HOW} launder\b|\blaunder(?:ing)? (?:the |my )?(?:money|cash|funds|profits)\b", 3),
    rule(
        "hack",
        rf"\b{_HOW} (?:hack|break) into\b|\bhack (?:into )?(?:my |someone's |his |her |their |a )"
        r"(?:ex's |neighbou?r's |boss's )?(?:account|email|phone|wifi|instagram|facebook|computer|bank)",
        3,
    ),
    rule(
        "steal",
        r"\b(?:steal|stealing|rob|robbing) (?:a |someone's |credit cards?|identit\w+|passwords?|cars?|"
        r"from (?:a |the )?(?:store|shop|bank|my (?:employer|work)))",
        2,
    ),
    rule("shoplift", r"\bshoplift\w*\b", 2),
    rule("taxes", r"\b(?:evade|avoid paying|cheat on) (?:my |the )?taxes\b", 2),
    rule(
        "counterfeit fake forge",
        r"\b(?:counterfeit|fake|forge|forged) (?:money|bills|passports?|ids?|"
        r"documents|checks|cheques|signatures?|prescriptions?)\b",
        2,
    ),
    rule("phishing", r"\bphishing (?:emails?|pages?|kits?|sites?|campaigns?)\b", 2),
    rule(
        "ransomware keylogger malware virus",
        r"\b(?:write|create|build|code|make) (?:a |some )?(?:ransomware|"
        r"keylogger|malware|virus|trojan|botnet)\b",
        3,
    ),
    rule(
        "caught trace knowing noticing",
        r"\bwithout (?:getting|being) caught\b|\bwithout (?:leaving a trace|them knowing|anyone "
        r"noticing)\b",
        2,
    ),
    rule(
        "alarm security breathalyzer drug anti paywall ignition",
        r"\b(?:bypass|disable|get around|beat|cheat) (?:a |an |the )?(?:alarm|security "
        r"system|breathalyzer|drug test|anti-cheat|paywall|ignition interlock)",
        2,
    ),
    rule("fraud skimm dumps carding", r"\bcredit card (?:fraud|skimm\w+|dumps)\b|\bcarding\b", 3),
    rule("fraud", r"\b(?:insurance|tax|benefits|wire) fraud\b", 1),
    rule(
        "drugs cocaine heroin meth fentanyl gun weapon",
        r"\b(?:buy|sell|order|get) (?:drugs|cocaine|heroin|meth|fentanyl|guns?|weapons?)"
        r"(?: illegally| online| on the dark ?web| without a (?:license|prescription))",
        3,
    ),
    rule("poison drug", r"\b(?:poison|drug|sedate) (?:someone|my|a person|her|him|them|their drink)\b", 3),
    rule("stalk spy secretly", r"\b(?:stalk|spy on|secretly track) (?:someone|my|her|him|them)\b", 3),
    rule("scam", r"\bscam (?:people|elderly|old people|someone|seniors|customers)\b", 3),
    rule("lock", rf"\b{_HOW} pick (?:a |the )?lock\b", 1),
    rule("dark", r"\bdark ?web (?:market|vendor|shop)s?\b", 2),
)
