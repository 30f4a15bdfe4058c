"""Prompt-attack rules in French, Spanish, German, Italian and Portuguese, for the families that carry across
languages: instruction override, prompt extraction, removal of limits, persona switches and developer mode.

They read the folded view (normalize.fold: case-folded, accents removed, "ß" as "ss"), so they are written
without accents: "precedentes", "instrucoes", "einschrankungen".
"""

from __future__ import annotations

from .lexicon import Rule, rule

FRENCH: tuple[Rule, ...] = (
    rule(
        "ignor oubli tiens tenez passe fais faites contourne desobei",
        r"\b(?:ignorez?|ignorer|oubliez?|oublier|ne (?:tiens|tenez) (?:plus |pas )?compte (?:de|des)|passez? outre|"
        r"fais abstraction (?:de|des)|faites abstraction (?:de|des)|contournez?|desobeis|desobeissez a) "
        r"(?:\w+ ){0,3}?(?:instructions|consignes|regles|directives|indications|restrictions|limites|filtres|"
        r"protections|garde-fous)\b",
        3,
    ),
    rule(
        "revele affiche montre donne repete divulgue imprime ecri dis dites",
        r"\b(?:revelez?|affichez?|montrez?|donnez?|repetez?|divulguez?|imprimez?|ecris|ecrivez|dis|dites)(?:-moi)? "
        r"(?:moi )?(?:\w+ ){0,2}?(?:prompt|message|instructions|consignes|regles) (?:\w+ )?(?:systeme|cachee?s?|"
        r"secrete?s?|initiale?s?|internes?|d'origine|confidentielle?s?)\b",
        3,
    ),
    rule("prompt systeme", r"\b(?:ton|votre|le) (?:prompt|message) systeme\b", 2),
    rule(
        "sans aucun",
        r"\bsans (?:aucune? |la moindre )?(?:restrictions?|filtres?|limites?|regles|censure|garde-fous|limitations?)\b",
        2,
    ),
    rule("mode", r"\bmode (?:developpeur|dev|sans restriction|jailbreak|dieu)\b", 0.5),
    rule("active activez passe entre", r"\b(?:active|activez|passe en|passez en|entre en) mode\b", 1.5),
    rule("aucun aucune", r"\baucune? (?:regles?|restrictions?|limites?|filtres?)\b", 0.5),
    rule(
        "tu es maintenant desormais partir",
        r"\b(?:tu es|vous etes) (?:maintenant|desormais|a present)\b|\ba partir de maintenant\b|\bfais comme si\b",
        0.5,
    ),
)

SPANISH: tuple[Rule, ...] = (
    rule(
        "ignor olvid hagas haz omite salta desobedece pasa",
        r"\b(?:ignora|ignorad|ignore|ignorar|olvida|olvidad|olvide|olvidar|no hagas caso (?:de|a)|haz caso omiso "
        r"(?:de|a)|omite|saltate|salta|desobedece|pasa por alto) (?:\w+ ){0,3}?(?:instrucciones|indicaciones|reglas|"
        r"normas|directrices|restricciones|filtros|politicas|limites)\b",
        3,
    ),
    rule(
        "revela muestra dime dame repite imprime ensena escribe",
        r"\b(?:revela|revelame|muestra|muestrame|dime|dame|repite|imprime|ensena|ensename|escribe) (?:\w+ ){0,2}?"
        r"(?:prompt|mensaje|instrucciones|reglas) (?:\w+ )?(?:del sistema|de sistema|ocultas?|secretas?|"
        r"iniciales?|internas?|originales?|confidenciales?)\b",
        3,
    ),
    rule("prompt mensaje sistema", r"\b(?:tu|su|el) (?:prompt|mensaje) (?:del|de) sistema\b", 2),
    rule(
        "sin ningun",
        r"\bsin (?:ningun[ao]? |ninguna )?(?:restricciones|filtros|limites|reglas|censura|limitaciones)\b",
        2,
    ),
    rule("modo", r"\bmodo (?:desarrollador|dev|sin restricciones|jailbreak|dios)\b", 0.5),
    rule("activa activad entra", r"\b(?:activa|activad|active|entra en|pasa al?) (?:el )?modo\b", 1.5),
    rule("no", r"\bno (?:tienes|tengas|tiene|hay) (?:ningun[ao]? )?(?:reglas|restricciones|limites|filtros)\b", 0.5),
    rule("eres ahora partir finge", r"\b(?:ahora eres|eres ahora)\b|\ba partir de ahora\b|\bfinge que\b", 0.5),
)

GERMAN: tuple[Rule, ...] = (
    rule(
        "ignorier vergiss vergessen missacht umgeh ubergeh setze beachte befolge",
        r"\b(?:ignorier(?:e|en|t)?|vergiss|vergessen sie|missachte(?:n|t)?|umgehe?(?:n)?|ubergehe?(?:n)?|"
        r"setze? dich uber|setzen sie sich uber|beachte nicht|befolge nicht mehr) (?:\w+ ){0,3}?(?:\w*anweisungen|"
        r"vorgaben|\w*regeln|richtlinien|anordnungen|instruktionen|einschrankungen|filter|beschrankungen)\b",
        3,
    ),
    rule(
        "verrat zeig gib geben nenne wiederhol druck schreib",
        r"\b(?:verrate?|verraten sie|zeig(?:e|en sie)?|gib|geben sie|nenne|wiederhole|drucke|schreib(?:e)?) "
        r"(?:mir |uns )?(?:\w+ ){0,2}?(?:systemprompt|system-prompt|systemnachricht|systemanweisungen|"
        r"(?:versteckten?|geheimen?|internen?|ursprunglichen?|verborgenen?) (?:anweisungen|prompt|nachricht|regeln))\b",
        3,
    ),
    rule(
        "systemprompt systemnachricht", r"\b(?:deinen?|ihren?|den) (?:systemprompt|system-prompt|systemnachricht)\b", 2
    ),
    rule(
        "ohne",
        r"\bohne (?:jede |jegliche |alle |irgendwelche )?(?:einschrankungen?|filter|grenzen|regeln|zensur|"
        r"beschrankungen)\b",
        2,
    ),
    rule(
        "entwicklermodus entwickler jailbreak gottmodus",
        r"\b(?:entwicklermodus|entwickler-modus|jailbreak-modus|"
        r"gottmodus)\b",
        0.5,
    ),
    rule(
        "aktivier schalte wechsle",
        r"\b(?:aktiviere?n?|schalte|wechsle in) (?:den |in den )?(?:entwickler|jailbreak|"
        r"gott)-?modus\b",
        1.5,
    ),
    rule("keine", r"\bkeine (?:regeln|einschrankungen|filter|grenzen)\b", 0.5),
    rule("ab bist tu", r"\bab (?:jetzt|sofort) bist du\b|\btu so, als\b", 0.5),
)

ITALIAN: tuple[Rule, ...] = (
    rule(
        "ignor dimentic tenere trascura aggira salta",
        r"\b(?:ignora|ignorate|ignorare|dimentica|dimenticate|dimenticare|non tenere conto (?:di|delle|dei)|"
        r"trascura|aggira|salta) (?:\w+ ){0,3}?(?:istruzioni|indicazioni|regole|direttive|restrizioni|linee guida|"
        r"filtri|limiti)\b",
        3,
    ),
    rule(
        "rivela mostra dimmi dammi ripeti stampa scrivi",
        r"\b(?:rivela|rivelami|mostra|mostrami|dimmi|dammi|ripeti|stampa|scrivi) (?:\w+ ){0,2}?(?:prompt|messaggio|"
        r"istruzioni|regole) (?:\w+ )?(?:di sistema|del sistema|nascost[ei]|segret[ei]|iniziali|interne|"
        r"originali|riservate)\b",
        3,
    ),
    rule("prompt sistema", r"\b(?:tuo|il) (?:prompt|messaggio) di sistema\b", 2),
    rule("senza", r"\bsenza (?:alcuna |alcun |nessuna |nessun )?(?:restrizion[ei]|filtri|limiti|regole|censura)\b", 2),
    rule("modalita", r"\bmodalita (?:sviluppatore|sviluppo|jailbreak|dio|senza restrizioni)\b", 0.5),
    rule("attiva attivate entra passa", r"\b(?:attiva|attivate|entra in|passa alla?) (?:la )?modalita\b", 1.5),
    rule("non avere hai nessuna", r"\b(?:non avere|non hai|nessuna) (?:regole|restrizioni|limiti|filtri)\b", 0.5),
    rule("adesso ora sei fai", r"\b(?:da (?:adesso|ora) (?:in poi )?sei|fai finta di)\b", 0.5),
)

PORTUGUESE: tuple[Rule, ...] = (
    rule(
        "ignor esquec desconsider siga contorne burle",
        r"\b(?:ignore|ignora|ignorar|esqueca|esquece|esquecer|desconsidere|desconsidera|nao siga|contorne|burle) "
        r"(?:\w+ ){0,3}?(?:instrucoes|orientacoes|regras|diretrizes|restricoes|filtros|limites|politicas)\b",
        3,
    ),
    rule(
        "revele revela mostre mostra diga repita imprima escreva",
        r"\b(?:revele|revela|mostre|mostra|diga|me de|repita|imprima|escreva) (?:\w+ ){0,2}?(?:prompt|mensagem|"
        r"instrucoes|regras) (?:\w+ )?(?:de sistema|do sistema|ocult[ao]s?|secret[ao]s?|iniciais|internas|"
        r"originais|confidenciais)\b",
        3,
    ),
    rule("prompt mensagem sistema", r"\b(?:seu|o) (?:prompt|mensagem) (?:de|do) sistema\b", 2),
    rule(
        "sem",
        r"\bsem (?:nenhuma |nenhum |qualquer )?(?:restricoes|restricao|filtros?|limites|regras|censura)\b",
        2,
    ),
    rule("modo", r"\bmodo (?:desenvolvedor|dev|sem restricoes|jailbreak|deus)\b", 0.5),
    rule("ative ativa ativar entre", r"\b(?:ative|ativa|ativar|entre no|entra no) (?:o )?modo\b", 1.5),
    rule("nao nenhuma", r"\b(?:nao tem|nao tens|nenhuma) (?:regras|restricoes|limites|filtros)\b", 0.5),
    rule("partir agora voce finja", r"\ba partir de agora (?:voce|tu) (?:e|es)\b|\bfinja que\b", 0.5),
)

# Across the five languages: "forget everything", "new instructions:", and sending something to an address.
SHARED: tuple[Rule, ...] = (
    rule(
        "oublie oubliez olvida olvide vergiss dimentica esqueca esquece ignoriere",
        r"\b(?:oubliez? tout|olvida todo|olvide todo|vergiss alles|vergessen sie alles|dimentica tutto|esqueca tudo|"
        r"esquece tudo|ignoriere alles)\b",
        3,
    ),
    rule(
        "nouvelles nouvelle nuevas nueva neue nuove nuova novas nova",
        r"\b(?:nouvelles? (?:instructions?|consignes?|regles?)|nuevas? (?:instrucciones|instruccion|reglas)|neue "
        r"(?:anweisungen|anweisung|regeln)|nuove? (?:istruzioni|regole)|novas? (?:instrucoes|instrucao|regras))\s*:",
        2,
    ),
    rule(
        "envoie envoyez transfere envia reenvia sende schicke leite invia inoltra envie encaminhe",
        r"\b(?:envoie|envoyez|transfere|transferez|envia|reenvia|sende|schicke|leite|invia|inoltra|envie|encaminhe)\b"
        r"[^.\n]{0,60}(?:https?://|\S+@\S+\.\w)",
        1.5,
    ),
)

MULTILINGUAL: tuple[Rule, ...] = (*FRENCH, *SPANISH, *GERMAN, *ITALIAN, *PORTUGUESE, *SHARED)
