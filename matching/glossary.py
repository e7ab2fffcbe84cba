"""The trade's shorthand, spelt out for the matcher: "RBAC" is "role based access control".

Sales and success people write acronyms and jargon ("RBAC", "SCIM", "WCAG", "a staging org"); a PM
titles the same need in words ("Custom roles and permissions", "Accessibility audit"). The small
sentence model knows the words far better than the letters, and the lexical overlap sees no shared
word at all. ``expand`` puts the words after the shorthand, in the stored title and in the query alike,
so either side may use either form.

Only the software trade's common shorthand is here (identity, compliance, formats, platforms), each
spelt out the way it is written in full; no entry names a product's own requests. An entry is a
normalised word, or two (``"soc 2"``); its expansion is normalised words too.
"""

from __future__ import annotations

GLOSSARY: dict[str, str] = {
    # identity and access
    "rbac": "role based access control permissions",
    "abac": "attribute based access control permissions",
    "acl": "access control list permissions",
    "acls": "access control list permissions",
    "sso": "single sign on",
    "saml": "single sign on",
    "oidc": "openid connect single sign on",
    "scim": "user provisioning",
    "jit": "just in time provisioning",
    "idp": "identity provider",
    "ldap": "directory",
    "mfa": "multi factor authentication",
    "2fa": "two factor authentication",
    "2sv": "two step verification",
    "totp": "one time code authentication",
    "otp": "one time code",
    "deprovision": "user provisioning deactivate accounts",
    "deprovisioning": "user provisioning deactivate accounts",
    "offboard": "user provisioning deactivate accounts",
    "offboarding": "user provisioning deactivate accounts",
    "whitelist": "allowlist",
    "whitelisting": "allowlisting",
    "vpn": "virtual private network",
    # accessibility, language
    "wcag": "accessibility",
    "a11y": "accessibility",
    "ada": "accessibility",
    "section 508": "accessibility",
    "vpat": "accessibility",
    "i18n": "internationalization translation",
    "l10n": "localization translation",
    "rtl": "right to left languages",
    # compliance and security
    "gdpr": "data privacy",
    "ccpa": "data privacy",
    "pii": "personal data",
    "dpa": "data processing agreement",
    "hipaa": "healthcare compliance",
    "soc 2": "security audit compliance",
    "soc2": "security audit compliance",
    "iso 27001": "security certification",
    "byok": "bring your own encryption key",
    "cmk": "customer managed encryption key",
    "e2ee": "end to end encryption",
    "ssl": "certificate encryption",
    "tls": "certificate encryption",
    # business shorthand
    "sla": "service level agreement",
    "slas": "service level agreements",
    "kpi": "key metrics",
    "kpis": "key metrics",
    "okr": "objectives key results",
    "okrs": "objectives key results",
    "csat": "customer satisfaction score",
    "nps": "net promoter score",
    "crm": "customer relationship management",
    "sfdc": "salesforce",
    "erp": "enterprise resource planning",
    "po": "purchase order",
    "pos": "purchase orders",
    "sow": "statement of work",
    "msa": "master services agreement",
    "ach": "bank transfer",
    "sepa": "bank transfer",
    "bi": "business intelligence",
    "etl": "data pipeline",
    "dwh": "data warehouse",
    # formats, platforms, interface
    "csv": "spreadsheet",
    "xlsx": "excel spreadsheet",
    "xls": "excel spreadsheet",
    "excel": "spreadsheet",
    "pwa": "mobile web app",
    "mdm": "mobile device management",
    "cname": "custom domain",
    "dns": "domain",
    "ocr": "text recognition from scans",
    "esign": "electronic signature",
    "gantt": "timeline",
    "staging": "sandbox test environment",
    "sandbox": "test environment",
}

_PAIRS = {k for k in GLOSSARY if " " in k}
_FIRSTS = {k.split()[0] for k in _PAIRS}


def expand(normalized: str) -> str:
    """``normalized`` with each glossary entry followed by its words, when the text does not already
    hold them all: ``"rbac for admins"`` -> ``"rbac role based access control permissions for admins"``."""
    if not normalized:
        return normalized
    words = normalized.split()
    have = set(words)
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        key = word
        if word in _FIRSTS and i + 1 < len(words) and f"{word} {words[i + 1]}" in _PAIRS:
            key = f"{word} {words[i + 1]}"
            out += [word, words[i + 1]]
            i += 2
        else:
            out.append(word)
            i += 1
        extra = GLOSSARY.get(key)
        if extra:
            added = [w for w in extra.split() if w not in have]
            if added:
                out.extend(added)
                have.update(added)
    return " ".join(out)
