"""The catalogue search engine (pure Python: no database, no Django settings needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tongban.catalog import reference
from tongban.catalog.search import (
    MAX_QUERY_LENGTH,
    EvalCase,
    Hit,
    SearchEntry,
    SearchIndex,
    evaluate,
    load_eval_cases,
)
from tongban.catalog.search_data import SYNONYMS

EVAL_CSV = reference.DATA_DIR / "search_eval.csv"

HOUSEHOLD_MOVES = {
    "夫妻投靠户口迁移",
    "父母投靠子女户口迁移",
    "大中专学生毕业户口迁移",
    "工作调动户口迁移",
    "大中专录取学生户口迁移",
}
FUND_WITHDRAWALS = {"购房提取住房公积金", "正常退休提取住房公积金"}


def catalogue_entries() -> list[SearchEntry]:
    theme_names = {key: name for key, name, _words in reference.THEMES}
    return [
        SearchEntry(
            code=document["code"],
            name=document["name"],
            text=document["scenario_text"],
            themes=tuple(theme_names[key] for key in document["themes"]),
        )
        for document in reference.reference_documents({})
    ]


@pytest.fixture(scope="module")
def entries() -> list[SearchEntry]:
    return catalogue_entries()


@pytest.fixture(scope="module")
def index(entries: list[SearchEntry]) -> SearchIndex:
    return SearchIndex.build(entries, SYNONYMS)


@pytest.fixture(scope="module")
def cases() -> list[EvalCase]:
    return load_eval_cases(EVAL_CSV)


def names(hits: list[Hit]) -> list[str]:
    return [hit.name for hit in hits]


# ------------------------------------------------------------------ evaluation set and targets


def test_evaluation_set_is_big_enough(cases: list[EvalCase]) -> None:
    assert len(cases) >= 70
    assert len({case.query for case in cases}) == len(cases)


def test_every_expected_name_is_in_the_catalogue(
    cases: list[EvalCase], entries: list[SearchEntry]
) -> None:
    catalogue = {entry.name for entry in entries}
    unknown = sorted({name for case in cases for name in case.expected} - catalogue)
    assert unknown == []


def test_evaluation_targets(index: SearchIndex, cases: list[EvalCase]) -> None:
    report = evaluate(index, cases, repeat=1)  # latency is a benchmark, not a test
    assert report.cases == len(cases)
    assert report.top3 >= 0.95, report.misses
    assert report.zero_results <= 0.02, report.misses
    assert report.top1 <= report.top3


def test_load_eval_cases_splits_expected_names(tmp_path: Path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("query,expected\n社保卡,社会保障卡申领|电子社会保障卡申领\n", encoding="utf-8")
    assert load_eval_cases(path) == [EvalCase("社保卡", ("社会保障卡申领", "电子社会保障卡申领"))]


def test_evaluate_reports_misses(index: SearchIndex) -> None:
    report = evaluate(index, [EvalCase("社保卡", ("学历公证",))], repeat=2)
    assert report.top3 == 0.0
    assert report.misses[0][0] == "社保卡"
    assert len(report.misses[0][1]) == 3
    assert report.p50_ms > 0
    assert report.p99_ms >= report.p50_ms


# ------------------------------------------------------------------ behaviours


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("shebaoka", "社会保障卡申领"),
        ("she bao ka", "社会保障卡申领"),
        ("ＳＨＥＢＡＯＫＡ", "社会保障卡申领"),  # full-width, upper case
        ("jiehundengji", "结婚登记"),
        ("yidijiuyi", "异地就医结算备案"),
    ],
)
def test_full_pinyin(index: SearchIndex, query: str, expected: str) -> None:
    assert expected in names(index.search(query, limit=3))


def test_gongjijin_finds_the_housing_fund(index: SearchIndex) -> None:
    assert all("住房公积金" in name for name in names(index.search("gongjijin", limit=5)))


def test_initials(index: SearchIndex) -> None:
    assert set(names(index.search("hkqy", limit=3))) <= HOUSEHOLD_MOVES
    assert index.search("jhdj", limit=1)[0].name == "结婚登记"
    assert index.search("sfz", limit=1)[0].name == "首次申领居民身份证"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("公基金提取", FUND_WITHDRAWALS),  # 基 for 积
        ("公积金题取", FUND_WITHDRAWALS),  # 题 for 提
        ("户口迁徙", HOUSEHOLD_MOVES),  # not a homophone: 迁徙 qianxi ≈ 迁移 qianyi
        ("结昏登记", {"结婚登记"}),
        ("失业保险金申临", {"失业保险金申领"}),  # shenlin ≈ shenling
        ("gongjijn", {"购房提取住房公积金", "住房公积金单位登记开户", "提前还清住房公积金贷款"}),
    ],
)
def test_typos(index: SearchIndex, query: str, expected: set[str]) -> None:
    top = names(index.search(query, limit=3))
    assert set(top) & expected


def test_homophone_typo_is_highlighted_as_the_real_word(index: SearchIndex) -> None:
    first = index.search("公基金提取", limit=1)[0]
    assert first.name in FUND_WITHDRAWALS
    assert "住房公积金</em>" in first.highlight
    assert "基" not in first.highlight


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("良民证", "无犯罪记录证明开具"),
        ("无犯罪证明", "无犯罪记录证明开具"),
        ("开公司", "内资企业及分支机构设立登记"),
        ("上户口", "新生儿入户"),
        ("失业金", "失业保险金申领"),
        ("驾照公证", "机动车驾驶证公证"),
        ("医保转移", "基本医疗保险关系转移接续"),
    ],
)
def test_synonyms(index: SearchIndex, query: str, expected: str) -> None:
    assert index.search(query, limit=1)[0].name == expected


def test_synonyms_come_from_the_mapping_passed_in(entries: list[SearchEntry]) -> None:
    small = SearchIndex.build(
        entries[:20], {"文凭": ["学历"], "xyz证": ["学位公证"], "app": ["驾驶证"]}
    )
    assert small.search("文凭", limit=1)[0].name == "学历公证"
    assert small.search("XYZ证", limit=1)[0].name == "学位公证"
    assert small.search("app", limit=1)[0].name == "机动车驾驶证公证"
    assert small.search("happy") == []  # a latin key matches whole words only
    assert small.search("良民证") == []  # not in this mapping


def test_space_separated_expansions_and_an_empty_catalogue(entries: list[SearchEntry]) -> None:
    small = SearchIndex.build(entries[:20], {"文凭": "学历 学位"})
    assert set(names(small.search("文凭", limit=2))) == {"学历公证", "学位公证"}
    assert SearchIndex.build([], SYNONYMS).search("社保") == []


def test_colloquial_words_around_the_term(index: SearchIndex) -> None:
    assert names(index.search("迁户口", limit=3))[0] in HOUSEHOLD_MOVES
    assert index.search("退休了怎么取公积金", limit=1)[0].name == "正常退休提取住房公积金"


def test_multi_word_queries(index: SearchIndex) -> None:
    assert index.search("公积金 提取 退休", limit=1)[0].name == "正常退休提取住房公积金"
    assert index.search("社保卡 shenling", limit=1)[0].name == "社会保障卡申领"
    social = {"企业职工基本养老保险关系转移接续", "城乡居民基本养老保险关系转移接续"}
    assert social & set(names(index.search("社保 转移", limit=3)))


def test_exact_name_ranks_first(index: SearchIndex, entries: list[SearchEntry]) -> None:
    for entry in entries:
        assert index.search(entry.name, limit=1)[0].name == entry.name


def test_name_outranks_text(index: SearchIndex) -> None:
    # 身份证 is in the 门诊 item's text and in the 首次申领 item's name.
    hits = index.search("身份证")
    assert hits[0].name == "首次申领居民身份证"
    assert hits[0].score > hits[-1].score


def test_highlight_marks_matched_parts(index: SearchIndex) -> None:
    first = index.search("社保卡", limit=1)[0]
    assert first.highlight == "<em>社会保障卡</em>申领"
    first = index.search("学历公证", limit=1)[0]
    assert first.highlight == "<em>学历公证</em>"


def test_highlight_escapes_html() -> None:
    entries = [
        SearchEntry("1", 'A&B <社保卡> "申领"'),
        SearchEntry("2", "<script>alert(1)</script>"),
    ]
    small = SearchIndex.build(entries, {"社保卡": ("社会保障卡",)})
    hit = small.search("社保卡")[0]
    assert hit.name == entries[0].name
    assert hit.highlight == "A&amp;B &lt;<em>社保卡</em>&gt; &quot;申领&quot;"
    assert all("<script>" not in h.highlight for h in small.search("script alert"))


@pytest.mark.parametrize(
    "query",
    ["", "   ", "\t\n", "😀", "🎉🎉🎉", "！？。，", "...", "-- ;", "\u200b", "的", "怎么办"],
)
def test_empty_and_garbage_queries_return_nothing(index: SearchIndex, query: str) -> None:
    assert index.search(query) == []


@pytest.mark.parametrize(
    "query", ["' OR 1=1 --", "1; DROP TABLE catalog_item;--", "%' AND '1'='1", "\\x00\x00"]
)
def test_sql_looking_text_does_not_crash(index: SearchIndex, query: str) -> None:
    assert isinstance(index.search(query), list)


def test_sql_looking_text_still_finds_the_words_in_it(index: SearchIndex) -> None:
    hits = index.search("社保'; drop table")
    assert hits
    assert all(hit.highlight.count("<em>") >= 1 for hit in hits[:3])
    assert names(hits[:3]) == names(index.search("社保", limit=3))


def test_very_long_queries_are_truncated(index: SearchIndex) -> None:
    assert MAX_QUERY_LENGTH == 100
    assert index.search("社保" * 5000)  # no crash, still useful
    padding = "的" * (MAX_QUERY_LENGTH - 3)
    assert names(index.search(padding + "良民证", limit=1)) == ["无犯罪记录证明开具"]
    assert index.search(padding + "的的的良民证") == []  # 良民证 is past the limit


def test_limit_is_respected(index: SearchIndex) -> None:
    assert len(index.search("证", limit=3)) == 3
    assert len(index.search("申请", limit=50)) <= 50
    assert len(index.search("社保")) <= 10
    assert index.search("社保", limit=0) == []


def test_order_is_deterministic(index: SearchIndex, entries: list[SearchEntry]) -> None:
    hits = index.search("残疾证", limit=20)
    assert hits == index.search("残疾证", limit=20)
    keys = [(-hit.score, hit.code) for hit in hits]
    assert keys == sorted(keys)  # best first, ties by code
    assert len({hit.code for hit in hits}) == len(hits)
    reversed_index = SearchIndex.build(list(reversed(entries)), SYNONYMS)
    for query in ("残疾证", "hkqy", "公积金", "社保转移"):
        assert reversed_index.search(query, limit=20) == index.search(query, limit=20)


def test_module_imports_no_django() -> None:
    code = (
        "import sys, warnings; warnings.simplefilter('error');"
        "import tongban.catalog.search;"
        "assert not [m for m in sys.modules if m == 'django' or m.startswith('django.')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
