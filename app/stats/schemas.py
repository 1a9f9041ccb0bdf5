from pydantic import BaseModel, ConfigDict, Field

from app.rates import METHOD

# `method` has a default but is in every answer: the answer's schema says it is required
# (Achievement sets the same with its examples).
ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class Counts(BaseModel):
    items: int = Field(description="Evaluations of the year with a status (the denominator).")
    achieved: int
    not_achieved: int
    unconfirmed: int = Field(description="数値未確定: in the denominator, never achieved.")
    no_status: int = Field(description="Evaluations without a status (outside the denominator).")
    not_evaluated: int = Field(
        description="Initiatives of that year or earlier with no evaluation for it."
    )
    inferred: int = Field(
        description="Of the items, those whose status is inferred (provenance inferred), not"
        " stated by the document."
    )
    rate: float | None = Field(description="達成率 in percent, one decimal; null for 0 items.")
    rate_all_items: float | None = Field(
        description="The rate over every registered initiative the year counts (items +"
        " no_status + not_evaluated), as the city's table divides by all its items; equal to"
        " rate when every one has a status."
    )


# Bases listed as (Counts, Key) so that the key fields come first in the JSON.
class MeasureKey(BaseModel):
    measure_id: int
    number: int
    title: str


class MeasureStats(Counts, MeasureKey):
    pass


class PolicyKey(BaseModel):
    policy_id: int
    number: int
    title: str


class PolicyStats(Counts, PolicyKey):
    measures: list[MeasureStats]


class PublishedCounts(BaseModel):
    items: int
    achieved: int
    unconfirmed: int
    rate: float | None


class PublishedPolicyKey(BaseModel):
    policy_id: int
    number: int


class PublishedPolicy(PublishedCounts, PublishedPolicyKey):
    pass


class Published(BaseModel):
    report_id: int
    title: str
    source: str | None
    total: PublishedCounts
    policies: list[PublishedPolicy]


class Achievement(BaseModel):
    model_config = ConfigDict(
        json_schema_serialization_defaults_required=True,
        json_schema_extra={
            "examples": [
                {
                    "plan_id": 1,
                    "fiscal_year": 2024,
                    "fiscal_year_label": "令和6年度",
                    "method": METHOD,
                    "total": {
                        "items": 8,
                        "achieved": 8,
                        "not_achieved": 0,
                        "unconfirmed": 0,
                        "no_status": 1,
                        "not_evaluated": 0,
                        "inferred": 8,
                        "rate": 100.0,
                        "rate_all_items": 88.9,
                    },
                    "policies": [],
                    "published": {
                        "report_id": 1,
                        "title": "金沢市行政経営プランの取組状況等について",
                        "source": "金沢市「金沢市行政経営プランの取組状況等について」",
                        "total": {"items": 124, "achieved": 108, "unconfirmed": 2, "rate": 87.1},
                        "policies": [
                            {
                                "policy_id": 1,
                                "number": 1,
                                "items": 39,
                                "achieved": 38,
                                "unconfirmed": 0,
                                "rate": 97.4,
                            }
                        ],
                    },
                    "matches_published": False,
                    "caveats": [
                        "この集計は登録済みの取組事項9件に基づきます。公表資料の表は124項目を"
                        "数えており、登録済みの取組事項はその一部です。市が公表した達成率は"
                        "87.1％です。",
                        "評価8件は公表資料の記載から推定したものです（provenance: inferred）。",
                        "評価のない取組事項が1件あります。達成率100.0％はこれを分母から除いた"
                        "値で、含めると88.9％です。",
                    ],
                }
            ]
        },
    )

    plan_id: int
    fiscal_year: int
    fiscal_year_label: str
    method: str = METHOD
    total: Counts
    policies: list[PolicyStats]
    published: Published | None = Field(description="The city's figures for the same year.")
    matches_published: bool = Field(
        description="Items, achieved and unconfirmed agree for every policy and the total."
    )
    caveats: list[str] = Field(
        description="What the computed figures rest on, in sentences a page can show beside"
        " them (Japanese): that the registered initiatives are a selection of the items the"
        " published table counts, how many statuses are inferred, and the rate with the"
        " initiatives without a status counted in. Empty when there is nothing to say."
    )


class YearStats(BaseModel):
    fiscal_year: int
    fiscal_year_label: str
    computed: Counts
    published: PublishedCounts | None
    matches_published: bool


class Trend(BaseModel):
    model_config = ALWAYS_SENT

    plan_id: int
    method: str = METHOD
    years: list[YearStats]


class YearCount(BaseModel):
    fiscal_year: int
    fiscal_year_label: str
    count: int


class StatusCount(BaseModel):
    fiscal_year: int
    fiscal_year_label: str
    status: str = Field(description="achieved, not_achieved, unconfirmed or none.")
    count: int


class Summary(BaseModel):
    plan_id: int
    policies: int
    measures: int
    initiatives: int
    numeric_targets: int
    initiatives_by_fiscal_year: list[YearCount]
    numeric_targets_by_fiscal_year: list[YearCount]
    evaluations: int
    evaluations_by_status: list[StatusCount]
    caveats: list[str] = Field(
        description="What the counts rest on (Japanese): that the registered initiatives are a"
        " selection of the items the latest published table counts, and how many statuses"
        " are inferred."
    )


class TargetRow(BaseModel):
    initiative_id: int
    code: str
    title: str
    target_value: float | None
    target_unit: str | None
    actual_value: float | None
    status: str | None
    percent_of_target: float | None = Field(description="actual ÷ target × 100; may exceed 100.")


class Targets(BaseModel):
    plan_id: int
    fiscal_year: int
    fiscal_year_label: str
    items: list[TargetRow]


class PlanKey(BaseModel):
    plan_id: int
    slug: str
    title: str
    municipality_code: str
    municipality_name: str


class PlanRow(Counts, PlanKey):
    published_items: int | None
    published_achieved: int | None
    published_unconfirmed: int | None
    published_rate: float | None


class PlanComparison(BaseModel):
    model_config = ALWAYS_SENT

    fiscal_year: int
    fiscal_year_label: str
    method: str = METHOD
    items: list[PlanRow]
