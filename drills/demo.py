"""The demo city's two years of drills, made once (loading the demo again adds nothing).

- **Operator kinds** of the departments: the water, energy and transport bureaus and their units
  are CII operators, the city government and the public security bureau central or state organs,
  the others other operators (set once, each change audited as the directory's update).
- **Drills** planned by the city's drill team (the Cyberspace Affairs Office; its administrator
  plans them, since they take in every bureau's systems), led and run by the drill team, the
  after-action reports approved by the leader: a semi-annual tabletop on ransomware striking the
  traffic-signal system, a yearly functional DDoS drill on the e-government portal, a yearly
  full-scale water-SCADA exercise (each with its next occurrence planned), and seminars,
  workshops, a game and drills on the other sectors' systems, grades I to IV (a grade IV one not
  reportable). Some reported late, one never reported; one cancelled with its reason, one in
  progress now, some planned ahead; approved and draft after-action reports.
- **Corrective actions** owned by the officers, the drill team and the administrator: closed, in
  progress, open, overdue (the older ones escalated), one cancelled, one promoted to the risk
  register.
- A leader's **requests**: one scheduled (the finance drill answers it), one still open.
- A few **coverage gaps**: CII systems without a completed drill within the last twelve months
  (a system under construction never drilled, one drilled fourteen months ago with its next drill
  planned, the finance systems, one whose drill was cancelled), and the finance bureau.

Everything goes through the domain's services (so deadlines, measured times, recurrence and the
audit trail are the real ones), each step on the day it happened where the service takes one;
the moments the rows record (created, completed, approved, closed, escalated) are then moved
back, as the other demos do. The audit trail keeps the moment of loading;
`demo.drills_loaded` says so. Texts are the city's: Chinese, with English beside them, never a
message of the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from assessments import risks
from assessments import rule as assessment_rule
from assessments.schemas import Promotion
from assets.models import Asset
from drills import actions, requests, rule, services
from drills.models import CorrectiveAction, Drill, DrillComment, DrillRequest, DrillTimelineEntry
from drills.schemas import (
    ActionCreate,
    ActionUpdate,
    CommentCreate,
    DrillCancel,
    DrillComplete,
    DrillCreate,
    DrillRecord,
    DrillStart,
    DrillUpdate,
    External,
    ObjectiveRating,
    RequestCreate,
    TimelineCreate,
)
from drills.services import save_record
from secgov import audit, auth, directory
from secgov.authz import Actor
from secgov.config import ServiceConfig
from secgov.localtime import zone
from secgov.models import AuditEntry, Department, Responsibility

TEAM, ADMIN, LEADER, OFFICER, TRANSPORT = "drill", "admin", "leader", "officer", "officer.transport"
HOME = "cyber"  # the drill team's office: its drills are the city's
# Departments' operator kinds (the others stay other operators).
OPERATOR_KINDS = {
    "city": "central_or_state_organ",
    "police": "central_or_state_organ",
    "water": "cii_operator",
    "water-supply": "cii_operator",
    "energy": "cii_operator",
    "energy-grid": "cii_operator",
    "transport": "cii_operator",
    "transport-signal": "cii_operator",
    "transport-metro": "cii_operator",
}
# Escalation ran a week ago: actions overdue since then have not escalated yet.
ESCALATED_DAYS_AGO = 7

POLICE = External(
    name="孙警官 Officer Sun", organisation="公安网安支队 Police cyber unit", role="公安联络员 police liaison"
)
TRAFFIC_POLICE = External(
    name="钱警官 Officer Qian", organisation="交警支队 Traffic police", role="公安联络员 police liaison"
)


def _vendor(name: str, organisation: str) -> External:
    return External(name=name, organisation=organisation, role="厂商工程师 vendor engineer")


WHO = {
    "": "导演组 Exercise control",
    "detected": "态势感知平台值班员 SOC analyst on duty",
    "reported": "值班长 Shift leader",
    "contained": "应急处置组 Response team",
    "recovered": "系统运维组 Operations team",
}
ENTRY = {
    "": "演练开始，导演组发布情景 Exercise begins: control issues the scenario",
    "detected": "发现异常并研判为安全事件 Anomaly found and judged a security incident",
    "reported": "向市网信办和主管部门报告 Reported to the Cyberspace Affairs Office and the supervising bureau",
    "contained": "隔离受影响系统，阻断攻击路径 Affected systems isolated, attack path cut",
    "recovered": "业务恢复正常运行 Service back to normal",
}


@dataclass(frozen=True)
class Act:
    """A corrective action: due `due_days` after the drill's end; its state once loaded (open,
    in_progress, closed, cancelled; `risk`: promoted to the risk register, then in progress)."""

    title: str
    owner: str
    due_days: int
    state: str = "open"
    asset: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Run:
    """How one occurrence went: milestones (minutes after the start), a rating per objective,
    strengths, areas for improvement, whether the leader approved its report, its actions."""

    milestones: dict[str, int]
    ratings: tuple[str, ...]
    strengths: str = ""
    improvements: str = ""
    approved: bool = True
    acts: tuple[Act, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A drill: planned `days` days ago (negative: ahead) at `hour` in the city's time; each run
    is an occurrence conducted and completed (a recurring drill's next one planned after it)."""

    key: str
    title: str
    scenario: str
    exercise_type: str
    grade: str
    days: int
    objectives: tuple[str, ...]
    assets: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    hour: int = 9
    minutes: int = 180
    months: int | None = None
    lead: str = TEAM
    participants: tuple[str, ...] = (OFFICER,)
    externals: tuple[External, ...] = ()
    runs: tuple[Run, ...] = ()
    cancel: str = ""
    live: Run | None = None  # in progress now, these milestones reached
    request: bool = False  # answers the leader's request
    comments: tuple[str, ...] = field(default=())


REPORT_1H = "1小时内向市网信办报告 Report to the Cyberspace Affairs Office within the hour"

PLANS: tuple[Plan, ...] = (
    Plan(
        key="signal",
        title="交通信号控制系统勒索软件桌面推演 Ransomware on the traffic-signal system (tabletop)",
        scenario=(
            "勒索软件经运维终端进入信号控制网，加密区域信号机配时服务器，早高峰前30个路口失控。"
            " Ransomware enters the signal network through a maintenance workstation and encrypts the"
            " timing servers; 30 junctions lose coordinated control before the morning peak."
        ),
        exercise_type="tabletop",
        grade="II",
        days=725,
        months=6,
        minutes=240,
        assets=("TRF-SIG-01", "TRF-SIG-02", "TRF-CAM-01"),
        departments=("transport-signal",),
        participants=(TRANSPORT, OFFICER),
        externals=(_vendor("刘工 Liu Gang", "城联交通科技有限公司 Chenglian Transport Technology"), TRAFFIC_POLICE),
        objectives=(
            "30分钟内发现信号机异常并研判为勒索攻击 Recognise the ransomware within 30 minutes",
            REPORT_1H,
            "切换至黄闪和人工指挥保障路口通行 Fall back to flashing amber and manual control",
            "从离线备份恢复配时方案 Restore the timing plans from offline backups",
        ),
        runs=(
            Run(
                {"detected": 25, "reported": 50, "contained": 95, "recovered": 170},
                ("S", "P", "S", "M"),
                "交警联动迅速，路口人工指挥到位 Traffic police took junctions over quickly",
                "配时方案无离线备份，恢复依赖厂商 No offline backup of timing plans; restore relied on the vendor",
                acts=(
                    Act(
                        "建立信号配时方案离线备份 Keep offline backups of the timing plans",
                        TRANSPORT,
                        60,
                        "closed",
                        "TRF-SIG-01",
                        "每周导出至离线介质 Exported weekly to offline media",
                    ),
                    Act(
                        "修订交通信号系统应急预案 Revise the signal system's response plan",
                        TRANSPORT,
                        90,
                        "closed",
                        note="新版预案已印发 New plan issued",
                    ),
                ),
            ),
            Run(
                {"detected": 20, "reported": 75, "contained": 110, "recovered": 200},
                ("S", "M", "S", "S"),
                "备份恢复较上次快一倍 Restores twice as fast as last time",
                "夜班报告链路不清，报告超时 Night-shift reporting chain unclear: reported late",
                acts=(
                    Act(
                        "明确夜间值班报告链路 Name the night-shift reporting chain",
                        TRANSPORT,
                        45,
                        "closed",
                        note="值班表已更新 Duty roster updated",
                    ),
                    Act(
                        "信号运维终端部署终端防护 Endpoint protection on the signal maintenance workstations",
                        TRANSPORT,
                        120,
                        "closed",
                        "TRF-SIG-01",
                    ),
                ),
            ),
            Run(
                {"detected": 15, "reported": 40, "contained": 80, "recovered": 150},
                ("P", "P", "S", "S"),
                "报告及时，处置流程熟练 Timely report, practised response",
                "信号控制网与视频专网仍有互通 The signal and camera networks still reach each other",
                acts=(
                    Act(
                        "信号控制网与视频专网隔离 Separate the signal network from the camera network",
                        TRANSPORT,
                        150,
                        "in_progress",
                        "TRF-CAM-01",
                        "防火墙策略待厂商实施 Firewall rules await the vendor",
                    ),
                ),
            ),
            Run(
                {"detected": 12, "reported": 35, "contained": 70, "recovered": 130},
                ("P", "P", "P", "S"),
                "各环节均在目标时间内完成 Every step within its target time",
                "恢复演练频次不足 Restores are rehearsed too rarely",
                approved=False,
                acts=(
                    Act("恢复演练纳入季度计划 Rehearse restores every quarter", TRANSPORT, 60),
                    Act("信号机固件升级 Upgrade the controllers' firmware", TRANSPORT, 200, asset="TRF-SIG-02"),
                ),
            ),
        ),
        comments=(
            "建议下次邀请交警指挥中心全程参加 Next time the traffic police command centre should join throughout",
        ),
    ),
    Plan(
        key="portal",
        title="政务服务网DDoS攻击功能演练 DDoS on the e-government portal (functional exercise)",
        scenario=(
            "政务服务网遭受每秒40Gb的流量攻击，办事高峰期门户和移动端无法访问。"
            " A 40 Gbit/s flood takes the portal and the city app down at the busiest hour."
        ),
        exercise_type="functional",
        grade="II",
        days=600,
        months=12,
        hour=10,
        assets=("EGV-PORTAL-01", "EGV-APP-01", "EGV-CLOUD-01"),
        departments=("egov", "egov-dc"),
        externals=(
            _vendor("周工 Zhou Lei", "海港云计算有限公司 Haigang Cloud"),
            External(
                name="吴经理 Manager Wu",
                organisation="中国电信海滨分公司 China Telecom Haibin",
                role="流量清洗 traffic scrubbing",
            ),
        ),
        objectives=(
            "10分钟内发现流量异常 Detect the surge within 10 minutes",
            "30分钟内切换至运营商流量清洗 Divert to the carrier's scrubbing within 30 minutes",
            "核心办事服务可用率不低于95% Keep core services at least 95% available",
            REPORT_1H,
        ),
        runs=(
            Run(
                {"detected": 8, "reported": 45, "contained": 60, "recovered": 150},
                ("S", "S", "M", "P"),
                "监测告警及时 Monitoring alerted in time",
                "无清洗服务协议，切换靠临时协调 No scrubbing agreement: diversion arranged ad hoc",
                acts=(
                    Act(
                        "与运营商签订流量清洗服务协议 Sign a scrubbing agreement with the carrier",
                        OFFICER,
                        60,
                        "closed",
                    ),
                    Act(
                        "门户静态资源接入CDN Serve the portal's static content through a CDN",
                        OFFICER,
                        120,
                        "closed",
                        "EGV-PORTAL-01",
                    ),
                ),
            ),
            Run(
                {"detected": 5, "reported": 30, "contained": 40, "recovered": 95},
                ("P", "P", "S", "P"),
                "清洗切换25分钟完成 Scrubbing in place within 25 minutes",
                "移动端接口缺少限流 The app's API has no rate limits",
                acts=(
                    Act("移动端接口限流策略 Rate limits on the app's API", OFFICER, 90, "closed", "EGV-APP-01"),
                    Act(
                        "DDoS应急联系人清单每季度核对 Check the DDoS contact list every quarter",
                        OFFICER,
                        365,
                        "in_progress",
                        note="已完成两次核对 Checked twice so far",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="water",
        title="供水SCADA系统网络攻击实战演练 Cyber attack on the water SCADA (full-scale exercise)",
        scenario=(
            "攻击者利用厂商远程运维通道进入供水调度SCADA，篡改加药设定值并锁定工程师站。"
            " An attacker uses the vendor's remote maintenance channel to reach the water SCADA,"
            " alters dosing setpoints and locks the engineering stations."
        ),
        exercise_type="full_scale",
        grade="I",
        days=480,
        months=12,
        hour=8,
        minutes=480,
        assets=("WTR-SCADA-01", "WTR-PLT-01", "WTR-LEAK-01"),
        departments=("water", "water-supply", "police"),
        participants=(OFFICER,),
        externals=(
            _vendor("郑工 Zheng Hao", "水云自动化有限公司 Shuiyun Automation"),
            _vendor("Tan Wei Ming", "中新水务技术有限公司 Sino-Singapore Water Technology (JV)"),
            POLICE,
        ),
        objectives=(
            "发现加药设定值被篡改 Detect the altered dosing setpoints",
            "隔离SCADA与办公网络 Isolate the SCADA from the office network",
            "水厂切换至就地手动运行 Run the plants by hand locally",
            REPORT_1H,
            "以可信镜像恢复SCADA Restore the SCADA from known-good images",
        ),
        runs=(
            Run(
                {"detected": 35, "reported": 80, "contained": 150, "recovered": 330},
                ("S", "M", "S", "M", "U"),
                "水厂值守人员手动运行熟练 Plant staff ran the plant by hand with confidence",
                "报告超时；无可信镜像，未能在演练内恢复 Late report; no known-good image, no restore within the exercise",
                acts=(
                    Act(
                        "部署工控网络单向隔离装置 Deploy a one-way gateway between SCADA and office",
                        OFFICER,
                        120,
                        "closed",
                        "WTR-SCADA-01",
                    ),
                    Act(
                        "SCADA工程师站取消共享账户 End shared accounts on the SCADA engineering stations",
                        OFFICER,
                        400,
                        "risk",
                        "WTR-SCADA-01",
                        "厂商改造排期中 Vendor change being scheduled",
                    ),
                ),
            ),
            Run(
                {"detected": 20, "reported": 50, "contained": 100, "recovered": 260},
                ("S", "S", "P", "P", "S"),
                "镜像恢复成功，报告及时 Restore from images worked; report in time",
                "就地操作卡缺失，依赖老员工经验 No local operation cards: staff rely on memory",
                acts=(
                    Act(
                        "编制水厂就地手动操作卡 Write local manual-operation cards for the plants",
                        OFFICER,
                        60,
                        asset="WTR-PLT-01",
                    ),
                    Act(
                        "SCADA可信镜像离线保存并季度校验 Keep known-good SCADA images offline, test quarterly",
                        OFFICER,
                        150,
                        "in_progress",
                        "WTR-SCADA-01",
                    ),
                    Act("与公安网安建立常态化联络机制 Standing liaison with the police cyber unit", ADMIN, 110),
                ),
            ),
        ),
    ),
    Plan(
        key="metro-fare",
        title="地铁售检票系统支付中断专项演练 Metro fare payment outage (drill)",
        scenario="售检票系统清分中心被恶意代码感染，全线闸机无法扫码。 Malware at the clearing centre stops QR payments at every gate.",
        exercise_type="drill",
        grade="III",
        days=400,
        hour=22,
        assets=("MTR-AFC-01",),
        departments=("transport-metro",),
        participants=(TRANSPORT,),
        objectives=("闸机切换至免检放行 Open the gates", REPORT_1H),
        runs=(
            Run(
                {"detected": 15, "reported": 50, "contained": 90, "recovered": 170},
                ("P", "S"),
                "车站响应迅速 Stations responded fast",
                "清分中心缺少隔离预案 No isolation plan for the clearing centre",
                acts=(Act("清分中心隔离预案 An isolation plan for the clearing centre", TRANSPORT, 60, "closed"),),
            ),
        ),
    ),
    Plan(
        key="seminar",
        title="市网络安全事件应急预案研讨会 Seminar on the city's incident response plan",
        scenario="各部门学习新版应急预案，明确分级与报告时限。 Bureaus go through the new plan: grades and reporting deadlines.",
        exercise_type="seminar",
        grade="IV",
        days=650,
        hour=14,
        minutes=120,
        departments=("city", "cyber"),
        participants=(OFFICER, TRANSPORT, LEADER),
        objectives=("明确各部门应急职责 Each bureau knows its duties", "统一事件报告渠道 One reporting channel"),
        runs=(Run({}, ("P", "S"), "参与度高 Good participation", "部分单位未派员 Some units sent no one"),),
    ),
    Plan(
        key="health-plt",
        title="全民健康信息平台数据泄露桌面推演 Data breach on the regional health platform (tabletop)",
        scenario="健康平台接口被批量调用，疑似泄露居民健康档案。 Bulk calls to the platform's interfaces: residents' records may have leaked.",
        exercise_type="tabletop",
        grade="III",
        days=430,
        hour=14,
        assets=("HLT-PLT-01", "HLT-VAC-01"),
        departments=("health",),
        objectives=("研判泄露范围 Judge what leaked", REPORT_1H),
        runs=(
            Run(
                {"detected": 20, "reported": 65, "contained": 100, "recovered": 160},
                ("S", "M"),
                "接口日志完整 Interface logs complete",
                "报告晚于时限 Reported after the deadline",
                acts=(
                    Act(
                        "健康平台数据接口鉴权 Authenticate the platform's interfaces",
                        OFFICER,
                        90,
                        "closed",
                        "HLT-PLT-01",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="wifi",
        title="城市公共无线网络钓鱼热点工作坊 Rogue hotspots on the city Wi-Fi (workshop)",
        scenario="公共场所出现仿冒城市WiFi的钓鱼热点。 Fake city Wi-Fi hotspots appear in public places.",
        exercise_type="workshop",
        grade="IV",
        days=130,
        hour=14,
        assets=("TEL-WIFI-01",),
        departments=("egov-dc",),
        objectives=("识别仿冒热点 Spot the fake hotspots", "发布公众提示 Warn the public"),
        runs=(
            Run(
                {"detected": 30, "contained": 60, "recovered": 100},
                ("P", "S"),
                "定位准确 Accurate location",
                "公众提示发布慢 Public warning slow",
            ),
        ),
    ),
    Plan(
        key="grid",
        title="城市电网与燃气网络攻防模拟对抗 Attack on the grid and gas networks (game)",
        scenario="红队模拟针对配电主站和燃气SCADA的协同攻击。 A red team plays a coordinated attack on the distribution master station and the gas SCADA.",
        exercise_type="game",
        grade="I",
        days=150,
        hour=9,
        minutes=360,
        assets=("ENG-DMS-01", "ENG-EMS-01", "ENG-GAS-01", "ENG-HEAT-01"),
        departments=("energy", "energy-grid"),
        externals=(_vendor("冯工 Feng Tao", "北辰能源软件有限公司 Beichen Energy Software"),),
        objectives=("识别横向移动 Spot lateral movement", REPORT_1H, "保障供电供气不中断 Keep power and gas flowing"),
        runs=(
            Run(
                {"detected": 22, "reported": 48, "contained": 110, "recovered": 300},
                ("S", "P", "M"),
                "蓝队研判准确 The blue team read the attack right",
                "燃气SCADA厂商远程运维缺乏管控 The gas SCADA vendor's remote access is uncontrolled",
                acts=(
                    Act(
                        "配电主站启用双因素登录 MFA for logins on the distribution master station",
                        OFFICER,
                        45,
                        "closed",
                        "ENG-DMS-01",
                    ),
                    Act(
                        "更换燃气SCADA厂商 Replace the gas SCADA vendor",
                        OFFICER,
                        180,
                        "cancelled",
                        "ENG-GAS-01",
                        "改为加强厂商远程运维管控 Replaced by tighter control of the vendor's remote access",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="metro",
        title="地铁综合监控系统恶意代码专项演练 Malware on the metro SCADA (drill)",
        scenario="综合监控工作站经U盘感染恶意代码，部分车站环控失灵。 A USB stick infects the ISCS workstations; some stations lose environmental control.",
        exercise_type="drill",
        grade="II",
        days=200,
        hour=23,
        minutes=240,
        assets=("MTR-SCADA-01", "MTR-CBTC-01", "MTR-AFC-01"),
        departments=("transport-metro",),
        participants=(TRANSPORT,),
        externals=(_vendor("Markus Vogel", "中欧智联交通有限公司 Sino-Euro Smart Mobility (JV)"),),
        objectives=(
            "发现受感染工作站 Find the infected workstations",
            "降级模式保障列车运行 Keep trains running degraded",
            REPORT_1H,
        ),
        runs=(
            Run(
                {"detected": 18, "reported": 52, "contained": 90, "recovered": 210},
                ("P", "S", "P"),
                "行车未受影响 Trains unaffected",
                "售检票系统缺少离线交易预案 No offline fare transactions fallback",
                acts=(
                    Act(
                        "综合监控工作站禁用USB存储 Block USB storage on the ISCS workstations",
                        TRANSPORT,
                        30,
                        "closed",
                        "MTR-SCADA-01",
                    ),
                    Act(
                        "售检票系统离线交易应急方案 Offline fare transactions fallback",
                        TRANSPORT,
                        120,
                        "in_progress",
                        "MTR-AFC-01",
                        "方案已起草 Draft written",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="his",
        title="医院信息系统患者数据泄露工作坊 Patient data breach at the hospital (workshop)",
        scenario="医院信息系统数据库被导出并在网上兜售。 The hospital database is dumped and offered for sale online.",
        exercise_type="workshop",
        grade="III",
        days=90,
        hour=14,
        minutes=240,
        assets=("HLT-HIS-01", "HLT-EMR-01", "HLT-PACS-01"),
        departments=("health-hospital",),
        externals=(_vendor("何工 He Jun", "康立医疗信息技术有限公司 Kangli Medical IT"),),
        objectives=(
            "评估泄露范围与通知义务 Judge the breach and whom to tell",
            REPORT_1H,
            "遏制数据外传 Stop the leak",
        ),
        runs=(
            Run(
                {"detected": 30, "reported": 55, "contained": 120, "recovered": 200},
                ("S", "S", "M"),
                "报告及时 Reported in time",
                "数据库访问缺少审计 No audit of database access",
                approved=False,
                acts=(
                    Act("病历数据库访问审计 Audit access to the records database", OFFICER, 120, asset="HLT-EMR-01"),
                    Act(
                        "医院与卫健委报告流程对接 Join the hospital's and the commission's reporting",
                        OFFICER,
                        60,
                        "in_progress",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="city-ops",
        title="城市运行管理平台数据篡改桌面推演 Data tampering on the city operations platform (tabletop)",
        scenario="城市运行平台的告警数据被篡改，误导值班调度。 Alarms on the city operations platform are falsified to mislead dispatchers.",
        exercise_type="tabletop",
        grade="III",
        days=75,
        hour=14,
        minutes=240,
        assets=("URB-CITY-01", "URB-WASTE-01", "URB-BRDG-01", "ENG-LGT-01"),
        departments=("utilities",),
        objectives=("识别被篡改的告警 Recognise the falsified alarms", REPORT_1H),
        runs=(
            Run(
                {"detected": 40, "contained": 130, "recovered": 220},
                ("M", "U"),
                "处置组配合顺畅 The response team worked well together",
                "未向网信办报告，职责不清 Never reported: nobody knew whose job it was",
                acts=(
                    Act(
                        "明确城市运行平台事件报告责任人 Name who reports the platform's incidents",
                        OFFICER,
                        30,
                        asset="URB-CITY-01",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="ems",
        title="120急救指挥调度系统中断专项演练 Ambulance dispatch outage (drill)",
        scenario="调度系统主服务器宕机，需切换至备用调度席位。 The dispatch servers fail; dispatch moves to the backup seats.",
        exercise_type="drill",
        grade="II",
        days=60,
        hour=3,
        assets=("HLT-EMS-01",),
        departments=("health-ems",),
        objectives=("切换备用调度席位 Switch to the backup dispatch seats", REPORT_1H),
        runs=(
            Run(
                {"detected": 10, "reported": 95, "contained": 120, "recovered": 170},
                ("S", "U"),
                "调度未中断 Dispatch never stopped",
                "值班长等待领导批示才报告 The shift leader waited for approval before reporting",
                approved=False,
                acts=(
                    Act("备用调度席位每月切换测试 Test the backup seats every month", OFFICER, 30),
                    Act("授权值班长直接报告 Let shift leaders report directly", OFFICER, 90),
                ),
            ),
        ),
    ),
    Plan(
        key="police",
        title="公安110与视频监控系统入侵桌面推演 Intrusion into police dispatch and video (tabletop)",
        scenario="视频监控平台弱口令被利用，攻击者尝试进入110接处警系统。 Weak passwords on the video platform let an attacker probe police dispatch.",
        exercise_type="tabletop",
        grade="II",
        days=45,
        hour=9,
        assets=("PSB-110-01", "PSB-VID-01", "PSB-POP-01", "PSB-TRAF-01"),
        departments=("police",),
        externals=(_vendor("褚工 Chu Ming", "金盾安防工程有限公司 Jindun Security Engineering"),),
        objectives=("阻断横向移动 Stop lateral movement", REPORT_1H, "保障接处警 Keep dispatch running"),
        runs=(
            Run(
                {"detected": 14, "reported": 38, "contained": 85, "recovered": 160},
                ("P", "S", "S"),
                "报告链路清晰 Clear reporting chain",
                "视频平台存在默认口令 Default passwords on the video platform",
                acts=(
                    Act(
                        "视频平台弱口令清查 Sweep weak passwords on the video platform", OFFICER, 60, asset="PSB-VID-01"
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="cloud",
        title="政务云与统一身份认证中断功能演练 Government cloud and identity outage (functional exercise)",
        scenario="政务云可用区故障叠加身份认证平台证书过期。 A cloud zone fails while the identity platform's certificate expires.",
        exercise_type="functional",
        grade="II",
        days=30,
        hour=10,
        assets=("EGV-DATA-01", "EGV-ID-01", "TEL-5G-01", "EGV-EMAIL-01", "EGV-OA-01"),
        departments=("egov-dc",),
        externals=(_vendor("周工 Zhou Lei", "海港云计算有限公司 Haigang Cloud"),),
        objectives=("切换至备用可用区 Fail over to the standby zone", REPORT_1H, "恢复统一登录 Restore single sign-on"),
        runs=(
            Run(
                {"detected": 9, "reported": 28, "contained": 65, "recovered": 140},
                ("P", "P", "S"),
                "切换自动化程度高 Failover largely automatic",
                "身份认证平台无异地灾备 No off-site standby for identity",
                acts=(
                    Act(
                        "身份认证平台异地灾备 Off-site standby for the identity platform", ADMIN, 90, asset="EGV-ID-01"
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="soc",
        title="态势感知与电子政务CA联动专项演练 SOC and government CA response (drill)",
        scenario="CA签名密钥疑似泄露，需吊销并重签证书。 The CA signing key may have leaked: revoke and reissue.",
        exercise_type="drill",
        grade="III",
        days=20,
        hour=15,
        minutes=120,
        assets=("CYB-SOC-01", "CYB-PKI-01", "CYB-EMAIL-01"),
        departments=("cyber",),
        participants=(OFFICER, ADMIN),
        externals=(_vendor("卫工 Wei Dong", "国盾密码服务有限公司 Guodun Cryptography Services"),),
        objectives=("发现异常签发 Spot the rogue issuance", REPORT_1H),
        runs=(
            Run(
                {"detected": 6, "reported": 25, "contained": 50, "recovered": 90},
                ("P", "P"),
                "SOC告警准确 Accurate SOC alert",
                "吊销流程依赖个人经验 Revocation depends on one person's know-how",
                approved=False,
                acts=(
                    Act(
                        "CA签名密钥应急吊销操作手册 A runbook to revoke the CA signing key",
                        TEAM,
                        45,
                        "in_progress",
                        "CYB-PKI-01",
                    ),
                ),
            ),
        ),
    ),
    Plan(
        key="pipe",
        title="地下管线管理系统勒索软件专项演练 Ransomware on the utility-lines system (drill)",
        scenario="管线数据库被加密，抢修调度无法调阅管线图。 The lines database is encrypted; repair crews cannot see the maps.",
        exercise_type="drill",
        grade="III",
        days=100,
        assets=("URB-PIPE-01",),
        departments=("utilities",),
        objectives=("恢复管线图调阅 Restore access to the maps", REPORT_1H),
        cancel="厂商工程师无法到场，系统迁移期间暂停演练 Vendor engineers unavailable; drills paused during the migration",
    ),
    Plan(
        key="hotline",
        title="12345热线与网格平台服务中断专项演练 Citizen hotline and grid platform outage (drill)",
        scenario="热线系统呼叫中心软交换故障，市民来电无法接入。 The hotline's softswitch fails: citizens' calls do not get through.",
        exercise_type="drill",
        grade="III",
        days=0,
        minutes=240,
        assets=("EGV-12345-01", "EGV-GRID-01"),
        departments=("egov",),
        objectives=("切换备用线路 Switch to the backup lines", REPORT_1H, "恢复工单流转 Restore the ticket flow"),
        live=Run({"detected": 12, "reported": 41}, ()),
    ),
    Plan(
        key="health-plt-2",
        title="全民健康信息平台数据泄露桌面推演（复演） Data breach on the regional health platform (tabletop, again)",
        scenario="复演：验证接口鉴权整改效果。 Again: check that the interfaces' authentication works.",
        exercise_type="tabletop",
        grade="III",
        days=-30,
        hour=14,
        assets=("HLT-PLT-01", "HLT-VAC-01"),
        departments=("health",),
        objectives=("研判泄露范围 Judge what leaked", REPORT_1H),
    ),
    Plan(
        key="finance",
        title="地方金融监管平台网络攻击功能演练 Attack on the financial supervision platform (functional exercise)",
        scenario="监管平台遭受撞库攻击，监管数据存在外泄风险。 Credential stuffing on the supervision platform puts its data at risk.",
        exercise_type="functional",
        grade="II",
        days=-45,
        hour=10,
        assets=("FIN-TAX-01",),
        departments=("finance",),
        objectives=("发现撞库攻击 Detect the credential stuffing", REPORT_1H),
        request=True,
    ),
    Plan(
        key="citywide",
        title="全市关键信息基础设施网络安全综合实战演习 City-wide CII exercise (full-scale)",
        scenario=(
            "针对政务、供水、供电、交通的多点协同攻击，检验全市应急指挥体系。"
            " Coordinated attacks on e-government, water, power and transport test the city's command structure."
        ),
        exercise_type="full_scale",
        grade="I",
        days=-80,
        hour=8,
        minutes=600,
        months=12,
        assets=("EGV-PORTAL-01", "WTR-SCADA-01", "ENG-DMS-01", "TRF-SIG-01"),
        departments=("city", "police"),
        participants=(OFFICER, TRANSPORT, LEADER),
        externals=(POLICE,),
        objectives=(
            "市级应急指挥部30分钟内启动 City command post up within 30 minutes",
            REPORT_1H,
            "跨部门协同处置 Bureaus respond together",
        ),
    ),
)

REQUESTS = (
    # title, reason, exercise type, assets, due in days; scheduled: the finance drill answers it.
    ("请组织金融监管平台网络安全演练 Please drill the financial supervision platform",
     "该平台一年内未开展演练 Not drilled within the year", "functional", ("FIN-TAX-01",), 60, True),
    ("请组织社保卡服务平台数据泄露演练 Please drill a data breach on the social security card platform",
     "社保卡数据涉及全体市民 Holds every citizen's data", "", ("FIN-SSC-01",), 120, False),
)  # fmt: skip


@dataclass
class _World:
    session: Session
    config: ServiceConfig
    now: datetime
    today: date  # the city's
    admin: Actor
    team: Actor
    leader: Actor
    people: dict[str, Actor]
    made: list[int] = field(default_factory=list)


def load(session: Session, actor: Actor, config: ServiceConfig) -> None:
    """Make the demo city's drills, corrective actions and requests, in the caller's transaction,
    unless they were made before."""
    done = select(AuditEntry.seq).where(AuditEntry.action == "demo.drills_loaded").limit(1)
    if session.exec(done).first() is not None:
        return
    users = {name: auth.find_user(session, name) for name in (ADMIN, TEAM, LEADER, OFFICER, TRANSPORT)}
    if any(user is None for user in users.values()):
        return
    codes = {code for plan in PLANS for code in plan.assets}
    if len(session.exec(select(Asset.code).where(Asset.code.in_(codes))).all()) < len(codes):
        return
    people = {name: Actor.of(user, "cli") for name, user in users.items()}
    now = services.now_utc()
    world = _World(
        session=session, config=config, now=now, today=now.astimezone(zone(config.timezone)).date(),
        admin=people[ADMIN], team=people[TEAM], leader=people[LEADER], people=people,
    )  # fmt: skip
    kinds = _operator_kinds(session, actor)
    request_ids = _requests(world)
    for plan in PLANS:
        _plan(world, plan, request_ids.get(plan.key))
    escalated = actions.escalate(session, actor, today=world.today - timedelta(days=ESCALATED_DAYS_AGO))
    for row in escalated:
        row.escalated_at = _at(world, ESCALATED_DAYS_AGO, 8)
        session.add(row)
    _backdate(world)
    audit.record(
        session, actor, "demo.drills_loaded", object_type="drill", drills=len(world.made), operator_kinds=kinds,
        note="drill times backdated: the rows say when each step happened, the audit entries when the demo was loaded",
    )  # fmt: skip


def _at(world: _World, days_ago: int, hour: int, minute: int = 0) -> datetime:
    """`hour` o'clock in the city's time, `days_ago` days before today (negative: ahead), in UTC."""
    day = world.today - timedelta(days=days_ago)
    return datetime.combine(day, time(hour, minute), tzinfo=zone(world.config.timezone)).astimezone(UTC)


def _operator_kinds(session: Session, actor: Actor) -> int:
    """Set the demo departments' operator kinds (those not set yet): through the directory's
    update where it takes the operator kind, else on the column, audited as the directory audits
    a department's change."""
    through_directory = "operator_kind" in directory.DepartmentUpdate.model_fields
    changed = 0
    for dept in session.exec(select(Department).where(Department.code.in_(list(OPERATOR_KINDS)))).all():
        kind = OPERATOR_KINDS[dept.code]
        if dept.operator_kind == kind:
            continue
        changed += 1
        if through_directory:
            data = directory.DepartmentUpdate(operator_kind=kind, version=dept.version)
            directory.update_department(session, dept, data, actor)
            continue
        before = dept.operator_kind
        dept.operator_kind = kind
        dept.version += 1
        session.add(dept)
        session.flush()
        audit.record(
            session, actor, "department.updated", object_type="department", object_id=dept.code,
            department_id=dept.id, before={"operator_kind": before}, after={"operator_kind": kind},
        )  # fmt: skip
    if changed:
        services.refresh_deadlines(session)
    return changed


def _requests(world: _World) -> dict[str, int]:
    """The leader's requests; the id of the one the finance drill answers, by the plan's key."""
    scheduled = {}
    for title, reason, kind, assets, due_in, answered in REQUESTS:
        row = requests.ask(
            world.session,
            world.leader,
            RequestCreate(
                title=title, reason=reason, exercise_type=kind, assets=list(assets), department="finance",
                due_by=world.today + timedelta(days=due_in),
            ),
        )  # fmt: skip
        row.requested_at = _at(world, 20 if answered else 5, 16)
        world.session.add(row)
        if answered:
            scheduled["finance"] = row.id
    return scheduled


def _create(world: _World, plan: Plan, start: datetime, request_id: int | None) -> Drill:
    return services.create(
        world.session,
        world.admin,
        DrillCreate(
            title=plan.title, scenario=plan.scenario, exercise_type=plan.exercise_type, incident_grade=plan.grade,
            department=HOME, lead=plan.lead, planned_start=start, duration_minutes=plan.minutes,
            recurrence_months=plan.months, assets=list(plan.assets), departments=list(plan.departments),
            participants=list(plan.participants), external_participants=list(plan.externals),
            objectives=list(plan.objectives), request_id=request_id,
        ),
    )  # fmt: skip


def _plan(world: _World, plan: Plan, request_id: int | None) -> None:
    session = world.session
    if plan.live is not None:
        start = (world.now - timedelta(minutes=100)).replace(second=0)
    else:
        start = _at(world, plan.days, plan.hour)
    drill = _create(world, plan, start, request_id)
    world.made.append(drill.id)
    if plan.cancel:
        services.cancel(session, world.team, drill.id, DrillCancel(reason=plan.cancel), world.config)
        drill.updated_at = start - timedelta(days=6)
        session.add(drill)
        return
    if plan.live is not None:
        _conduct(world, drill, plan.live, drill.planned_start + timedelta(minutes=5), None)
        return
    for index, run in enumerate(plan.runs):
        if index:
            # The occurrence planned when the one before was completed: on its date (the service
            # planned it after the day the demo is loaded, the date it skips to when late).
            following = session.exec(select(Drill).where(Drill.previous_id == drill.id)).one()
            when = rule.next_start(drill.planned_start, plan.months, world.config.timezone)
            drill = services.update(
                session, world.admin, following.id, DrillUpdate(version=following.version, planned_start=when)
            )
            world.made.append(drill.id)
        started = drill.planned_start + timedelta(minutes=5)
        _conduct(world, drill, run, started, started + timedelta(minutes=plan.minutes))
    following = session.exec(select(Drill.id).where(Drill.previous_id == drill.id)).first()
    if following is not None:
        world.made.append(following)
    for text in plan.comments:
        row = services.comment(session, world.people[OFFICER], drill.id, CommentCreate(text=text))
        row.created_at = (drill.ended_at or drill.planned_start) + timedelta(days=2)
        session.add(row)


def _conduct(world: _World, drill: Drill, run: Run, started: datetime, ended: datetime | None) -> None:
    """Start the drill, write its timeline, rate its objectives, complete it (`ended`; None: it
    goes on), have the leader approve its report, add its corrective actions."""
    session, team = world.session, world.team
    services.start(session, team, drill.id, DrillStart(started_at=started))
    services.add_entry(session, team, drill.id, TimelineCreate(at=started, who=WHO[""], text=ENTRY[""]))
    for milestone, minutes in run.milestones.items():
        services.add_entry(
            session, team, drill.id,
            TimelineCreate(at=started + timedelta(minutes=minutes), who=WHO[milestone], text=ENTRY[milestone],
                           milestone=milestone),
        )  # fmt: skip
    if ended is None:
        return
    services.complete(session, team, drill.id, DrillComplete(ended_at=ended), world.config)
    objectives = services.read(session, drill).objectives
    save_record(
        session, team, drill.id,
        DrillRecord(
            ratings=[ObjectiveRating(id=o.id, rating=r) for o, r in zip(objectives, run.ratings, strict=True)],
            strengths=run.strengths, improvements=run.improvements,
        ),
    )  # fmt: skip
    if run.approved:
        services.approve_report(session, world.leader, drill.id)
    ended_on = ended.astimezone(zone(world.config.timezone)).date()
    for act in run.acts:
        _act(world, drill, act, ended, ended_on)


def _act(world: _World, drill: Drill, act: Act, ended: datetime, ended_on: date) -> None:
    session = world.session
    row = actions.create(
        session, world.admin, drill.id,
        ActionCreate(title=act.title, owner=act.owner, due_date=ended_on + timedelta(days=act.due_days),
                     asset=act.asset),
        today=ended_on,
    )  # fmt: skip
    row.created_at = ended + timedelta(days=1)
    owner = world.people[act.owner]
    if act.state == "risk":
        method = assessment_rule.method(session, world.config)
        risks.promote(
            session, Promotion(source="drill_action", source_id=row.id, treatment="reduce"), world.people[OFFICER],
            method,
        )  # fmt: skip
    state = "in_progress" if act.state == "risk" else act.state
    if state in ("in_progress", "closed"):
        actions.update(
            session, owner, row.id, ActionUpdate(version=row.version, status=state, note=act.note or None),
            manager=False, today=ended_on,
        )  # fmt: skip
    elif state == "cancelled":
        actions.update(
            session, world.admin, row.id, ActionUpdate(version=row.version, status=state, note=act.note or None),
            manager=True, today=ended_on,
        )  # fmt: skip
    # Closed a little before it was due (or yesterday), updated then.
    moment = min(ended + timedelta(days=max(1, act.due_days * 2 // 3)), world.now - timedelta(days=1))
    if state in ("closed", "cancelled"):
        row.closed_at = moment
    row.updated_at = moment if state != "open" else row.created_at
    session.add(row)


def _backdate(world: _World) -> None:
    """Move the moments the drills' rows record back to when each step happened."""
    session, now = world.session, world.now
    drills = {d.id: d for d in session.exec(select(Drill).where(Drill.id.in_(world.made))).all()}
    for drill in drills.values():
        previous = session.get(Drill, drill.previous_id) if drill.previous_id else None
        if previous is not None and previous.ended_at is not None:
            drill.created_at = previous.ended_at
        else:
            drill.created_at = min(now, drill.planned_start - timedelta(days=30))
        if drill.ended_at is not None:
            drill.completed_at = drill.ended_at
            drill.updated_at = drill.ended_at
            if drill.aar_status == "approved":
                drill.aar_approved_at = min(drill.ended_at + timedelta(days=10), now - timedelta(hours=1))
                drill.updated_at = drill.aar_approved_at
        elif drill.status == "planned":
            drill.updated_at = drill.created_at
        session.add(drill)
    for entry in session.exec(select(DrillTimelineEntry).where(DrillTimelineEntry.drill_id.in_(world.made))).all():
        entry.created_at = entry.at
        session.add(entry)
    for row in session.exec(select(DrillComment).where(DrillComment.drill_id.in_(world.made))).all():
        row.created_at = min(row.created_at, now)
        session.add(row)
    answered = session.exec(select(Drill).where(Drill.request_id.is_not(None), Drill.id.in_(world.made))).all()
    for drill in answered:
        request = session.get(DrillRequest, drill.request_id)
        request.decided_at = request.requested_at + timedelta(days=8)
        drill.created_at = request.decided_at
        session.add_all([request, drill])
    session.flush()
    # The leads and the actions' owners held their duties from the records' making (each has one term).
    made = select(CorrectiveAction.id).where(CorrectiveAction.drill_id.in_(world.made))
    for model, subject, ids in (
        (Drill, services.SUBJECT, world.made),
        (CorrectiveAction, actions.SUBJECT, session.exec(made).all()),
    ):
        session.exec(
            update(Responsibility)
            .where(Responsibility.subject_type == subject, Responsibility.subject_id.in_(ids))
            .values(valid_from=select(model.created_at).where(model.id == Responsibility.subject_id).scalar_subquery())
        )


__all__ = ["PLANS", "load"]
