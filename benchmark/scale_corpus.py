"""Realistic stored requests at scale, for benchmark/bench_scale.py: deterministic for a seed.

A workspace's requests come from eight product areas; each area has templated *needs* ("Export the
utilisation report to Excel", "SSO with Okta for new hires", "Two-way sync of tickets with Salesforce").
A stored request is a need, often narrowed by a qualifier ("... for new hires", "... in the EU region"),
the way PMs end up with a general request and finer-grained versions of it.

Besides the generated needs, every labelled group of benchmark/data/paraphrases.json gets a few
**near-variants**: its title narrowed by a qualifier ("SAML SSO with Okta for contractors"). They are
labelled (``variant_of``): a query phrased like the general need should still find the general request
first, and a variant is never counted as the right answer. A generated text whose content words are a
superset of a labelled title's is labelled as that group's variant too; one whose words equal a labelled
title's is dropped (it would be the labelled request itself).

``corpus(n, seed)`` returns ``n`` distinct ``Stored`` requests; a larger ``n`` with the same seed starts
with the smaller corpus (so 10k is the first 10k of 100k and vectors can be cached once).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from matching.normalize import normalize, terms

DATA = Path(__file__).resolve().parent / "data" / "paraphrases.json"

AREAS = [
    "Reporting",
    "Identity & security",
    "Integrations",
    "Billing",
    "Workflow",
    "Mobile",
    "Admin & compliance",
    "API & platform",
]

# Finer-grained versions of a need: who it is for, where, how.
QUALIFIERS = [
    "for new hires",
    "for contractors",
    "for admins only",
    "for read-only users",
    "for the enterprise plan",
    "for the EU region",
    "in the US data centre",
    "per team",
    "per region",
    "per customer",
    "per department",
    "on a schedule",
    "every Monday",
    "at month end",
    "with an audit trail",
    "with approval steps",
    "with custom fields",
    "with attachments",
    "in bulk",
    "from the mobile app",
    "on the Android app",
    "in the web app",
    "for sandbox accounts",
    "for partner accounts",
    "for multi-entity accounts",
    "across workspaces",
    "without losing history",
    "in their own language",
    "for the support team",
    "for the sales team",
    "for finance",
    "for field technicians",
    "for franchise locations",
    "for the board pack",
    "for the renewal cycle",
    "during onboarding",
    "after a merger",
    "for SOC 2 audits",
    "for HIPAA customers",
    "for trial accounts",
]

REPORTS = [
    "utilisation",
    "pipeline",
    "churn",
    "revenue",
    "usage",
    "SLA",
    "ticket backlog",
    "forecast",
    "win-loss",
    "NPS",
    "headcount",
    "timesheet",
    "invoice ageing",
    "renewals",
    "capacity",
    "margin",
    "activity",
    "quota attainment",
    "inventory",
    "project budget",
    "CSAT",
    "onboarding funnel",
    "feature adoption",
    "login history",
    "expense",
    "payroll summary",
    "cohort retention",
    "lead source",
    "deal velocity",
    "resource allocation",
]
REPORT_VERBS = ["Export", "Schedule", "Email", "Share", "Download", "Filter", "Pin", "Compare"]
REPORT_TARGETS = [
    "to Excel",
    "to CSV",
    "as a PDF",
    "to Google Sheets",
    "to PowerPoint",
    "to Tableau",
    "to Looker",
]

IDPS = ["Okta", "Azure AD", "Google Workspace", "OneLogin", "Ping Identity", "JumpCloud", "Auth0", "Keycloak"]
ROLES = [
    "admins",
    "managers",
    "guests",
    "contractors",
    "agents",
    "approvers",
    "billing owners",
    "auditors",
    "viewers",
    "partners",
]
IDENTITY = [
    ("SSO with {idp}", {"idp": IDPS}),
    ("SCIM provisioning from {idp}", {"idp": IDPS}),
    ("Just-in-time user provisioning with {idp}", {"idp": IDPS}),
    ("Group sync from {idp}", {"idp": IDPS}),
    ("Enforce MFA for {role}", {"role": ROLES}),
    ("Hardware security keys for {role}", {"role": ROLES}),
    ("Session timeout for {role}", {"role": ROLES}),
    ("Password expiry rules for {role}", {"role": ROLES}),
    ("IP allowlist for {role}", {"role": ROLES}),
    ("Login alerts for {role}", {"role": ROLES}),
    ("RBAC for {role}", {"role": ROLES}),
]

APPS = [
    "Salesforce",
    "HubSpot",
    "Zendesk",
    "Jira",
    "NetSuite",
    "SAP",
    "Workday",
    "ServiceNow",
    "Intercom",
    "Pipedrive",
    "Dynamics 365",
    "Xero",
    "QuickBooks",
    "Snowflake",
    "BigQuery",
    "Marketo",
    "Gong",
    "Asana",
    "Monday.com",
    "Freshdesk",
    "Shopify",
    "Stripe",
    "Greenhouse",
    "BambooHR",
    "Confluence",
]
OBJECTS = [
    "tickets",
    "contacts",
    "accounts",
    "deals",
    "invoices",
    "orders",
    "projects",
    "tasks",
    "timesheets",
    "expenses",
    "products",
    "quotes",
    "contracts",
    "leads",
    "employees",
    "assets",
    "purchase orders",
    "shipments",
    "notes",
    "meetings",
]
SYNC = ["Two-way sync of", "One-way sync of", "Real-time sync of", "Nightly sync of", "Import"]

CURRENCIES = ["EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "SEK", "BRL", "INR", "SGD"]
BILLING = [
    ("Invoices in {cur}", {"cur": CURRENCIES}),
    ("Price lists in {cur}", {"cur": CURRENCIES}),
    ("Pay by {method}", {"method": ["SEPA direct debit", "ACH", "PayPal", "purchase order", "wire", "BACS"]}),
    ("{cycle} billing", {"cycle": ["Quarterly", "Semi-annual", "Usage-based", "Prorated", "Consolidated"]}),
    (
        "{doc} on invoices",
        {"doc": ["PO numbers", "VAT IDs", "cost centres", "project codes", "tax breakdown", "payment terms"]},
    ),
    ("Credit notes for {obj}", {"obj": OBJECTS}),
    (
        "Dunning emails for {obj}",
        {"obj": ["overdue invoices", "failed cards", "expired trials", "unpaid renewals"]},
    ),
    ("Seat true-up for {role}", {"role": ROLES}),
]

WORKFLOW = [
    "Recurring",
    "Approval workflow for",
    "Bulk edit",
    "Kanban view of",
    "Templates for",
    "Comments on",
    "Due date reminders for",
    "Custom statuses for",
    "Dependencies between",
    "Checklists on",
    "Duplicate detection for",
    "Archive old",
    "Tags on",
    "Saved views of",
    "Gantt chart of",
]

MOBILE_FEATURES = [
    "Offline mode",
    "Push notifications",
    "Dark mode",
    "Barcode scanning",
    "Face ID login",
    "Home screen widget",
    "Photo upload",
    "GPS check-in",
    "Voice notes",
    "Signature capture",
    "Landscape layout",
    "Tablet layout",
    "Document scanning",
    "Quick actions",
]
MOBILE_PLATFORMS = [
    "in the iOS app",
    "in the Android app",
    "on iPad",
    "on Apple Watch",
    "in the mobile web app",
]

ADMIN = [
    (
        "Audit log of {ev}",
        {"ev": ["permission changes", "logins", "exports", "deletions", "API key use", "billing changes"]},
    ),
    ("Stream the audit log to {siem}", {"siem": ["Splunk", "Datadog", "Sumo Logic", "Elastic", "Sentinel"]}),
    ("Custom roles for {obj}", {"obj": OBJECTS}),
    ("Field-level permissions on {obj}", {"obj": OBJECTS}),
    ("Data retention policy for {obj}", {"obj": OBJECTS}),
    (
        "WCAG {lvl} compliance for the {surface}",
        {
            "lvl": ["2.1 AA", "2.2 AA", "AAA"],
            "surface": ["dashboard", "portal", "editor", "mobile app", "emails"],
        },
    ),
    ("Legal hold on {obj}", {"obj": OBJECTS}),
    ("GDPR export of {obj}", {"obj": OBJECTS}),
]

PLATFORM = [
    ("Webhooks for new {obj}", {"obj": OBJECTS}),
    ("Webhooks for updated {obj}", {"obj": OBJECTS}),
    ("GraphQL API for {obj}", {"obj": OBJECTS}),
    ("Bulk API for {obj}", {"obj": OBJECTS}),
    ("Raise the API rate limit for {obj}", {"obj": OBJECTS}),
    ("Sandbox environment for {who}", {"who": ["developers", "partners", "QA", "training", "demos"]}),
    (
        "Data residency in {region}",
        {"region": ["Germany", "Australia", "Canada", "the UK", "Japan", "India"]},
    ),
    ("Python SDK for {obj}", {"obj": OBJECTS}),
]


def _expand(template: str, slots: dict[str, list[str]]) -> list[str]:
    out = [template]
    for name, values in slots.items():
        out = [t.replace("{" + name + "}", v) for t in out for v in values]
    return out


def needs() -> list[tuple[int, str]]:
    """Every templated need, as (area index, title)."""
    out: list[tuple[int, str]] = []
    out += [
        (0, f"{verb} the {report} report {target}")
        for verb in REPORT_VERBS
        for report in REPORTS
        for target in REPORT_TARGETS
    ]
    out += [(1, t) for template, slots in IDENTITY for t in _expand(template, slots)]
    out += [(2, f"{sync} {obj} with {app}") for sync in SYNC for obj in OBJECTS for app in APPS]
    out += [(3, t) for template, slots in BILLING for t in _expand(template, slots)]
    out += [(4, f"{feature} {obj}") for feature in WORKFLOW for obj in OBJECTS]
    out += [(5, f"{feature} {platform}") for feature in MOBILE_FEATURES for platform in MOBILE_PLATFORMS]
    out += [(6, t) for template, slots in ADMIN for t in _expand(template, slots)]
    out += [(7, t) for template, slots in PLATFORM for t in _expand(template, slots)]
    return out


# Where each labelled group lives (the area a requester would pick).
GROUP_AREAS = {
    0: [
        "export-reports-csv",
        "scheduled-report-email",
        "dashboard-pdf",
        "custom-dashboard",
        "sla-reporting",
        "usage-analytics",
    ],
    1: ["sso-saml", "scim-provisioning", "mfa", "password-policy", "ip-allowlist", "session-timeout"],
    2: [
        "slack-notifications",
        "teams-integration",
        "calendar-sync",
        "salesforce-integration",
        "hubspot-integration",
        "zapier",
    ],
    3: ["invoice-currency", "pay-by-transfer", "monthly-billing", "e-signature"],
    4: [
        "bulk-edit",
        "kanban-board",
        "gantt-timeline",
        "recurring-tasks",
        "mentions",
        "approval-workflow",
        "custom-fields",
        "search-filters",
        "attachment-size",
        "restore-deleted",
        "version-history",
    ],
    5: ["mobile-app", "offline-mode", "dark-mode", "email-frequency", "localization", "user-timezone"],
    6: [
        "audit-log",
        "export-users-csv",
        "import-users-csv",
        "roles-permissions",
        "gdpr-erasure",
        "white-label",
        "custom-domain",
    ],
    7: ["api-rate-limit", "webhooks", "sandbox", "data-residency"],
}
AREA_OF = {gid: area for area, gids in GROUP_AREAS.items() for gid in gids}

# Generated needs that are finer-grained versions of a labelled need in other words ("Session timeout
# for admins" narrows "configurable session timeout"): labelled as its variants.
TEMPLATE_VARIANTS = [
    ("SSO with Okta", "sso-saml"),
    ("SCIM provisioning from Okta", "scim-provisioning"),
    ("Enforce MFA for ", "mfa"),
    ("Hardware security keys for ", "mfa"),
    ("Password expiry rules for ", "password-policy"),
    ("Session timeout for ", "session-timeout"),
    ("IP allowlist for ", "ip-allowlist"),
    ("RBAC for ", "roles-permissions"),
    ("Custom roles for ", "roles-permissions"),
    ("Invoices in EUR", "invoice-currency"),
    ("Pay by SEPA direct debit", "pay-by-transfer"),
    ("Pay by ACH", "pay-by-transfer"),
    ("Pay by wire", "pay-by-transfer"),
    ("Pay by BACS", "pay-by-transfer"),
    ("Bulk edit tasks", "bulk-edit"),
    ("Kanban view of ", "kanban-board"),
    ("Gantt chart of ", "gantt-timeline"),
    ("Recurring tasks", "recurring-tasks"),
    ("Approval workflow for purchase orders", "approval-workflow"),
    ("Offline mode ", "offline-mode"),
    ("Dark mode ", "dark-mode"),
    ("Audit log of permission changes", "audit-log"),
    ("Audit log of deletions", "audit-log"),
    ("GDPR export of ", "gdpr-erasure"),
    ("Webhooks for new orders", "webhooks"),
    ("Raise the API rate limit for ", "api-rate-limit"),
    ("Sandbox environment for ", "sandbox"),
    ("Two-way sync of contacts with Salesforce", "salesforce-integration"),
    ("Two-way sync of contacts with HubSpot", "hubspot-integration"),
    ("Export the usage report", "usage-analytics"),
    ("Export the SLA report", "sla-reporting"),
    ("Email the SLA report", "sla-reporting"),
    ("Schedule the SLA report", "sla-reporting"),
]

# Near-variants generated per labelled group.
VARIANTS_PER_GROUP = 4


@dataclass(frozen=True)
class Stored:
    title: str
    area: int
    variant_of: str = ""  # a labelled group's id when this is a finer-grained version of its need


def labelled_groups() -> list[dict]:
    return json.loads(DATA.read_text())["groups"]


def _key(text: str) -> frozenset[str]:
    return frozenset(terms(normalize(text, spell_out=False)))


def corpus(n: int, seed: int = 11, groups: list[dict] | None = None) -> list[Stored]:
    """``n`` distinct stored requests: the labelled groups' near-variants first, then generated ones
    (a need, then a need narrowed by one qualifier, in a seeded order)."""
    groups = labelled_groups() if groups is None else groups
    rng = random.Random(seed)
    titles = {g["id"]: g["phrasings"][0] for g in groups}
    labelled = {_key(t): gid for gid, t in titles.items()}
    out: list[Stored] = []
    seen: set[str] = set()

    def put(item: Stored) -> None:
        key = normalize(item.title, spell_out=False)
        if key not in seen:
            seen.add(key)
            out.append(item)

    for gid, title in titles.items():
        for q in rng.sample(QUALIFIERS, VARIANTS_PER_GROUP):
            put(Stored(f"{title} {q}", AREA_OF.get(gid, 0), gid))
    base = needs()
    rng.shuffle(base)
    # Every need once, then needs with a qualifier, in an order fixed by the seed (prefix-stable).
    plan = [(area, title, "") for area, title in base]
    pairs = [(i, j) for i in range(len(base)) for j in range(len(QUALIFIERS))]
    rng.shuffle(pairs)
    plan += [(base[i][0], base[i][1], QUALIFIERS[j]) for i, j in pairs]
    label_keys = list(labelled.items())
    for area, title, qualifier in plan:
        if len(out) >= n:
            break
        text = f"{title} {qualifier}".strip()
        key = _key(text)
        if key in labelled:
            continue  # the labelled request itself
        variant = next((gid for lk, gid in label_keys if lk and lk < key), "")
        variant = variant or next((gid for prefix, gid in TEMPLATE_VARIANTS if text.startswith(prefix)), "")
        put(Stored(text, area, variant))
    if len(out) < n:
        raise ValueError(f"the templates give {len(out)} distinct requests, fewer than {n}")
    return out[:n]


if __name__ == "__main__":
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for item in corpus(size):
        print(f"{AREAS[item.area]:<20} {item.variant_of or '-':<20} {item.title}")
