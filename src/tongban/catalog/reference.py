"""The national list as shipped (data/catalog.csv, reconstructed from 渝府办发〔2020〕124号) turned
into item documents. Nothing here is invented legal text: fields the source leaves empty stay
empty, and every item gets one *generic* scenario until its real ones are entered: the
applicant's identity document and, for the few items that work on a document the applicant
holds, that document (``EXTRA_MATERIALS``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
CATALOG_CSV = DATA_DIR / "catalog.csv"

# Batch → two digits of the provisional basic code (99 BB NNNNNNNN).
_BATCH_CODES = {"2020": "20", "2021": "21", "2021+": "22"}

THEMES: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "social-insurance",
        "社保",
        ("社会保险", "养老保险", "社保", "养老金", "工伤", "失业保险", "职业年金", "社会保障卡"),
    ),
    ("household", "户籍", ("户口", "户籍", "居民身份证", "入户")),
    ("housing-fund", "公积金", ("公积金",)),
    ("medical-insurance", "医保", ("医疗保险", "医保", "就医", "门诊费用")),
    ("business", "企业开办", ("企业", "个体工商户", "合作社", "生产许可", "经营")),
    ("real-estate", "不动产", ("不动产", "商品房")),
    ("family", "婚育", ("结婚", "离婚", "生育", "新生儿", "孤儿", "儿童")),
    ("disability", "残疾人", ("残疾",)),
    ("verification", "证照核验", ("查询", "核验", "证明")),
    ("employment", "就业创业", ("就业", "失业", "职业资格", "职业技能", "人事档案", "技工")),
    ("education", "教育", ("学历", "学位", "毕业", "学生")),
    ("notary", "公证", ("公证",)),
    ("transport", "交通出行", ("驾驶", "道路客运", "航空")),
    ("natural-resources", "自然资源", ("采矿权", "探矿权", "测绘", "坐标")),
    ("health", "卫生健康", ("医疗广告", "义诊", "消毒", "药", "医疗器械", "食品")),
]

# Items the demo hands across the Sichuan border, with the Chengdu department that handles them.
SICHUAN_DEMO: dict[str, str] = {
    "企业职工基本养老保险关系转移接续": "cd-hrss",
    "社会保障卡申领": "cd-hrss",
    "失业保险金申领": "cd-hrss",
    "基本医疗保险关系转移接续": "cd-healthcare-security",
    "异地就医结算备案": "cd-healthcare-security",
    "夫妻投靠户口迁移": "cd-public-security",
    "大中专学生毕业户口迁移": "cd-public-security",
    "无犯罪记录证明开具": "cd-public-security",
    "购房提取住房公积金": "cd-housing-provident-fund",
    "正常退休提取住房公积金": "cd-housing-provident-fund",
    "个体工商户注销登记": "cd-market-regulation",
    "学历公证": "cd-justice",
    "结婚登记": "cd-civil-affairs",
    "残疾人证迁移": "cd-disabled-persons",
}

# Lead units the source leaves empty but the law fixes: household registration is the work of
# the public security organs (户口登记条例 art. 3), so the 户口迁移 items are theirs.
LEAD_UNIT_BY_LAW: dict[str, str] = {
    "大中专学生毕业户口迁移": "市公安局",
    "夫妻投靠户口迁移": "市公安局",
    "父母投靠子女户口迁移": "市公安局",
}

GENERIC_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "申请信息",
    "required": ["applicant_name", "id_number", "phone", "statement"],
    "properties": {
        "applicant_name": {
            "type": "string",
            "title": "申请人姓名",
            "minLength": 1,
            "maxLength": 64,
        },
        "id_number": {
            "type": "string",
            "title": "公民身份号码",
            "pattern": "^[0-9]{17}[0-9X]$",
            "maxLength": 18,
            "x-personal": "id_number",
        },
        "phone": {
            "type": "string",
            "title": "联系电话",
            "pattern": "^1[3-9][0-9]{9}$",
            "maxLength": 11,
            "x-personal": "phone",
        },
        "statement": {"type": "string", "title": "申请事项说明", "minLength": 1, "maxLength": 2000},
    },
    "additionalProperties": False,
}


def generic_scenario() -> dict[str, Any]:
    return {
        "key": "general",
        "name": "一般情形",
        "description": "",
        "generic": True,
        "form_schema": GENERIC_FORM_SCHEMA,
        "order": 0,
        "materials": [
            {
                "key": "identity",
                "name": "申请人有效身份证件",
                "required": True,
                "original_required": False,
                "license_type": "居民身份证",
                "datashare_check": "household.identity_match",
                "accepted_types": ["pdf", "jpg", "jpeg", "png", "ofd"],
                "template": "",
                "note": "",
                "order": 0,
            }
        ],
    }


# Materials some items ask for beyond the applicant's identity, by item name: the document the
# item works on. Each accepts the electronic licence of its type (licenses/data/
# license_types.json), so an applicant who holds one picks it instead of handing in paper.
# Exchanging, moving or cancelling a disability card (残疾人证) needs the card itself; without
# the electronic licence the window checks the paper original.
_DISABILITY_CARD: dict[str, Any] = {
    "key": "disability-card",
    "name": "残疾人证",
    "required": True,
    "original_required": True,
    "license_type": "残疾人证",
    "datashare_check": "",
    "accepted_types": ["pdf", "jpg", "jpeg", "png", "ofd"],
    "template": "",
    "note": "",
    "order": 1,
}
EXTRA_MATERIALS: dict[str, tuple[dict[str, Any], ...]] = {
    "残疾人证换领": (_DISABILITY_CARD,),
    "残疾人证迁移": (_DISABILITY_CARD,),
    "残疾人证注销": (_DISABILITY_CARD,),
}


def scenario_for(item_name: str) -> dict[str, Any]:
    """The generic scenario of a reference item, with the item's extra materials, if any."""
    scenario = generic_scenario()
    scenario["materials"] += [dict(extra) for extra in EXTRA_MATERIALS.get(item_name, ())]
    return scenario


def _short_source(source: str) -> str:
    for short in ("seed-scenario", "seed", "public news"):
        if source.startswith(short):
            return short
    return source[:255]


# The real-name level the reference items ask of the person who applies (accounts.RealNameLevel).
# L2 (identity verified) by default: everything here touches the applicant's own records. L3
# (verified in person or by face) where a mistaken identity does lasting harm that is hard to
# undo: the result is a licence, permit, registration or certificate issued to the applicant, or
# money, social insurance, property or the household register changes hands. Administrators
# correct single items in the admin (minimum real-name level); imports carry the field. Looking
# records up (查询) stays L2 even where the records are about money or property.
LEVEL_3_WORDS = (
    # licences, permits, registrations and certificates issued
    "许可",
    "审批",
    "批准",
    "换证",
    "作业证办理",
    "注册",
    "资格认定",
    "发证",
    "核发",
    "证新办",
    "换领",
    "挂失补办",
    "设立登记",
    "变更登记",
    "注销登记",
    "结婚登记",
    "离婚登记",
    "居民身份证",
    # money and property
    "提取",
    "贷款",
    "抵押",
    "保险金",
    "养老金",
    "待遇",
    "结算",
    "不动产",
    "采矿权",
    "探矿权",
    "无人抚养儿童认定",
    # social insurance relations
    "关系转移",
    "互转",
    "参保登记",
    "社会保障卡申领",
    "社会保障卡补领",
    # the household register
    "户口迁移",
    "入户",
)
LEVEL_2 = 2
LEVEL_3 = 3


def min_level_for(name: str) -> int:
    """The minimum real-name level of a reference item, from its name (see LEVEL_3_WORDS)."""
    if "查询" in name:
        return LEVEL_2
    return LEVEL_3 if any(word in name for word in LEVEL_3_WORDS) else LEVEL_2


def themes_for(text: str) -> list[str]:
    return sorted(key for key, _name, words in THEMES if any(word in text for word in words))


def reference_documents(departments_by_short_name: dict[str, str]) -> list[dict[str, Any]]:
    """One item document per row of catalog.csv, in file order."""
    with CATALOG_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    next_unnumbered: dict[str, int] = {}
    documents = []
    for row in rows:
        batch = row["batch"].rstrip("?")
        seq = int(row["seq"]) if row["seq"].strip() else None
        number = seq
        if number is None:
            number = next_unnumbered.get(batch, 900)
            next_unnumbered[batch] = number + 1
        modes = [mode for mode in row["suggested_modes"].split("|") if mode]
        lead_unit = row["lead_unit"].strip() or LEAD_UNIT_BY_LAW.get(row["name"], "")
        lead = departments_by_short_name.get(lead_unit)
        cooperating = sorted(
            {
                departments_by_short_name[unit.strip()]
                for unit in row["cooperating_units"].split("|")
                if unit.strip() in departments_by_short_name
            }
        )
        implementations = [
            {
                "division": "500000",
                "department": lead,
                "code": "",
                "legal_limit_days": None,
                "promised_limit_days": None,
                "fee": "",
                "online": "ONLINE" in modes,
                "window": "PROXY" in modes or "JOINT" in modes,
                "post": "PROXY" in modes,
                "place": "",
                "hours": "",
            }
        ]
        if row["name"] in SICHUAN_DEMO:
            implementations.append(
                {
                    **implementations[0],
                    "division": "510100",
                    "department": SICHUAN_DEMO[row["name"]],
                }
            )
        documents.append(
            {
                "code": f"99{_BATCH_CODES.get(batch, '99')}{number:08d}",
                "code_provisional": True,
                "name": row["name"],
                "item_type": "",
                "legal_basis": "",
                "conditions": "",
                "batch": batch,
                "batch_inferred": row["batch"].endswith("?"),
                "seq": seq,
                "scenario_text": row["scenario"],
                "pattern": row["pattern"],
                "workflow": "standard",
                "min_real_name_level": min_level_for(row["name"]),
                "source": _short_source(row["source"]),
                "confidence": row["confidence"],
                "modes": modes,
                "lead_unit": lead,
                "cooperating_units": cooperating,
                # By name only: the scenario sentence mentions places ("不受户籍地限制")
                # that would tag unrelated themes.
                "themes": themes_for(row["name"]),
                "scenarios": [scenario_for(row["name"])],
                "implementations": implementations,
            }
        )
    return documents
