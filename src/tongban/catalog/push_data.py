"""The shipped 精准推送 rules: (key, fact or life event, item names, reason shown). Loaded into
PushRule on `tongban init` (names resolved to codes); administrators edit the table after."""

PUSH_RULES: list[tuple[str, str, tuple[str, ...], str]] = [
    (
        "moved-province-social-insurance",
        "moved_province",
        ("企业职工基本养老保险关系转移接续", "基本医疗保险关系转移接续", "异地就医结算备案"),
        "您从外省来到本地，社保和医保关系可以跨省转移，看病可以直接结算。",
    ),
    (
        "moved-province-household",
        "moved_province",
        ("夫妻投靠户口迁移", "父母投靠子女户口迁移"),
        "投靠亲属落户，可在迁入地申请，两地协同办理。",
    ),
    (
        "graduated",
        "graduated",
        ("大中专学生毕业户口迁移", "流动人员人事档案接收、转递", "学历公证"),
        "毕业了：户口、档案和学历公证都可以跨省办理。",
    ),
    (
        "married",
        "married",
        ("夫妻投靠户口迁移", "生育登记（一孩/二孩）"),
        "新婚：户口投靠和生育登记不必回户籍地。",
    ),
    (
        "child-born",
        "child_born",
        ("新生儿入户", "生育登记（一孩/二孩）", "社会保障卡申领"),
        "宝宝出生：入户、生育登记和社保卡申领。",
    ),
    (
        "retired",
        "retired",
        ("正常退休提取住房公积金", "领取养老金人员待遇资格认证"),
        "退休后：提取公积金、养老金资格认证都可以在线办。",
    ),
    (
        "lost-job",
        "lost_job",
        ("失业登记", "失业保险金申领"),
        "失业了：可在常住地登记失业并申领失业保险金。",
    ),
    (
        "opened-business",
        "opened_business",
        ("内资企业及分支机构设立登记", "个体工商户设立登记", "住房公积金单位登记开户"),
        "开办企业：登记和单位公积金开户都可以跨省办理。",
    ),
    (
        "bought-home-elsewhere",
        "bought_home_elsewhere",
        ("购房提取住房公积金", "个人住房公积金缴存贷款等信息查询"),
        "在外地买房：在购房地申请提取公积金，缴存地办理。",
    ),
    (
        "disability",
        "disabled",
        ("残疾人证迁移", "残疾人证换领"),
        "残疾人证可以跨省迁移和换领。",
    ),
    (
        "retirement-age",
        "retirement_age",
        ("正常退休提取住房公积金", "领取养老金人员待遇资格认证"),
        "您已到退休年龄：提取公积金、养老金资格认证都可以在线办。",
    ),
    (
        "legal-representative",
        "legal_representative",
        ("内资企业及分支机构变更登记", "单位社保参保证明查询打印"),
        "您是企业法定代表人：变更登记、开具单位社保证明可以在线办。",
    ),
    (
        "enterprise-member",
        "enterprise_member",
        ("单位社保参保证明查询打印", "住房公积金单位及个人缴存信息变更"),
        "为企业办事：单位社保证明、公积金缴存变更可以在线办。",
    ),
    (
        "enterprise",
        "enterprise",
        (
            "内资企业及分支机构变更登记",
            "单位社保参保证明查询打印",
            "住房公积金单位登记开户",
            "住房公积金单位及个人缴存信息变更",
        ),
        "企业常办：变更登记、单位社保证明、公积金开户与缴存变更。",
    ),
]
