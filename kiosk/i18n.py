"""Screen texts in Chinese, English and Uyghur. ``t(key, lang, **fmt)``.

``T`` holds (Chinese, English) per key; the Uyghur texts are in :mod:`kiosk.i18n_ug`
(``UG``, the same keys). A key without a text in the asked language falls back to
Chinese; tests/kiosk/test_i18n.py checks that none is missing, that placeholders agree,
that English has no Chinese punctuation and that Uyghur is in Arabic script.
"""

from __future__ import annotations

from kiosk.i18n_ug import UG

#: The kiosk's languages: Chinese, English, Uyghur (Arabic script, right to left).
LANGS: tuple[str, ...] = ("zh", "en", "ug")
#: Each language's name in itself: the labels of the language switch.
LANG_NAMES: dict[str, str] = {"zh": "中文", "en": "English", "ug": "ئۇيغۇرچە"}
#: Languages written right to left (the screen mirrors its layout for them).
RTL_LANGS = frozenset({"ug"})

T: dict[str, tuple[str, str]] = {
    # entries
    "guide": ("办事指南", "Service guides"),
    "ticket": ("取号", "Take a ticket"),
    "checkin": ("预约签到", "Appointment check-in"),
    "case": ("办件查询", "Case status"),
    "rating": ("好差评", "Rate a service"),
    "help": ("帮办代办", "Call a helper"),
    "unresolved": ("办不成事反映", "Could not get it done"),
    "mailing": ("免费邮寄", "Free mailing"),
    "home": ("首页", "Home"),
    "back": ("返回", "Back"),
    "elderly_on": ("长辈模式", "Large mode"),
    "elderly_off": ("标准模式", "Standard mode"),
    "hours": ("办公时间", "Opening hours"),
    "open_now": ("正在办公", "Open now"),
    "closed_now": (
        "现在非办公时间，窗口下次开放：{when}",
        "Windows closed now; they open {when}",
    ),
    "closed_no_next": ("现在非办公时间", "Windows are closed now"),
    "self_service_note": (
        "自助服务照常可用：{what}",
        "Self-service still works: {what}",
    ),
    "hours_today": ("今日办公时间 {hours}", "Open today {hours}"),
    "closed_today": ("今日（{day}）窗口不办公", "Windows closed today ({day})"),
    "holiday_today": ("今日{name}放假，窗口不办公", "Closed today: {name} holiday"),
    "makeup_today": (
        "今日为调休上班日，窗口照常办公",
        "Today is a make-up working day: windows open",
    ),
    "holiday_tomorrow": (
        "温馨提示：{day}{name}放假，窗口不办公",
        "Note: {day} is a holiday ({name}); windows closed",
    ),
    "makeup_tomorrow": (
        "温馨提示：{day}调休上班，办公时间 {hours}",
        "Note: {day} is a make-up working day, open {hours}",
    ),
    "waiting_total": ("当前等候 {n} 人", "{n} people waiting now"),
    "queue_waiting": ("{name}：等候 {n} 人", "{name}: {n} waiting"),
    "controller_down": (
        "暂时看不到排队人数（大厅系统未响应）。取号如遇问题，请找工作人员。",
        "Queue figures are not available (the hall system is not responding). "
        "If taking a ticket fails, please ask staff.",
    ),
    "offline": (
        "暂时连不上大厅系统。办事指南和打印仍可使用；评价和求助会先保存，恢复后自动送达。",
        "The hall system cannot be reached right now. Guides and printing still work; "
        "ratings and help requests are saved and sent when it is back.",
    ),
    "why_closed": ("非办公时间", "outside hours"),
    "why_offline": ("暂不可用", "unavailable now"),
    # catalogue
    "categories": ("事项分类", "Categories"),
    "search": ("搜索（可输入拼音首字母，如 sfz）", "Search (pinyin initials work, e.g. sfz)"),
    "search_btn": ("搜索", "Search"),
    "no_results": (
        "没有找到相关事项，请换个词，或点“帮办代办”找工作人员。",
        "Nothing found. Try another word, or call a helper.",
    ),
    "conditions": ("办理条件", "Conditions"),
    "materials": ("所需材料（一次性告知）", "Materials (complete list)"),
    "fees": ("收费", "Fees"),
    "time_limits": ("办理时限", "Time limits"),
    "window": ("办理窗口", "Window"),
    "includes": ("包含事项", "Includes"),
    "print": ("打印告知单", "Print this notice"),
    "take_ticket_for": ("为此事项取号", "Take a ticket for this"),
    "printing": ("正在打印…", "Printing…"),
    "printed": ("已打印，请取走告知单。", "Printed. Please take your notice."),
    "prev_page": ("上一页", "Previous"),
    "next_page": ("下一页", "Next"),
    "first_page": ("已是第一页", "First page"),
    "last_page": ("已是最后一页", "Last page"),
    "page": ("第{i}/{n}页", "Page {i}/{n}"),
    "bundle": ("一件事一次办", "One-go bundles"),
    "content_zh_only": (
        "以下内容暂无译文，以中文显示。",
        "The following is shown in Chinese (no English version yet).",
    ),
    "notice_zh_only": (
        "部分内容暂无译文，以中文显示。",
        "Some parts have no English version yet and are shown in Chinese.",
    ),
    # the printed / spoken notice (Notice.lines)
    "line_includes": ("包含事项", "Includes"),
    "line_conditions": ("办理条件", "Conditions"),
    "line_materials": ("所需材料", "Materials"),
    "line_fees": ("收费", "Fees"),
    "line_time_limit": ("时限", "Time limit"),
    "line_window": ("窗口", "Window"),
    "tl_days": ("法定{legal}，承诺{promised}", "{legal} by law, {promised} promised"),
    "tl_days_now": ("法定{legal}，即办", "{legal} by law, done on the spot"),
    "tl_promised": ("承诺{promised}", "{promised} promised"),
    "work_days": ("{n}个工作日", "{n} working days"),
    "work_day_one": ("{n}个工作日", "{n} working day"),
    "tl_now": ("即办", "Done on the spot"),
    "lang_choose": ("请选择语言", "Choose a language"),
    # ticket
    "choose_service": ("请选择要办理的事项", "Choose what you need to do"),
    "all_categories": ("返回全部分类", "All categories"),
    "identify": (
        "请刷身份证，或扫描电子证照/个人码（可跳过）",
        "Place your ID card, or scan your e-licence / personal code (optional)",
    ),
    "skip": ("跳过", "Skip"),
    "identified_as": ("已识别：{name}", "Identified: {name}"),
    "priority_q": ("是否需要优先办理？", "Do you need priority service?"),
    "prio_normal": ("普通取号", "Normal ticket"),
    "prio_elderly": ("老年人优先（按身份证年龄）", "Senior priority (age on ID card)"),
    "prio_disabled": ("残疾人优先（窗口核验证件）", "Disability priority (checked at window)"),
    "prio_green": ("绿色通道：{groups}（窗口核验）", "Green channel: {groups} (checked at window)"),
    "sending": ("请稍候…", "Please wait…"),
    "your_ticket": ("您的号码", "Your number"),
    "people_ahead": ("前面还有 {n} 人", "{n} people ahead of you"),
    "expected_wait": ("预计等候约 {n} 分钟", "Expected wait about {n} min"),
    "go_window": ("请留意叫号，前往：{w}", "Please wait for the call; go to: {w}"),
    "qr_hint": ("用手机扫码可随时查看排队进度", "Scan with your phone to follow the queue"),
    "ticket_printed": ("号票已打印，请取走。", "Your ticket is printed. Please take it."),
    "print_failed": (
        "打印机暂时无法打印。请用手机扫描上方二维码保存号码，或记下号码。",
        "The printer cannot print now. Scan the QR code above with your phone, "
        "or note your number.",
    ),
    "done": ("完成", "Done"),
    # check-in / case
    "scan_appointment": (
        "请扫描预约二维码，或刷身份证",
        "Scan your appointment QR code or place your ID card",
    ),
    "checked_in": ("签到成功", "Checked in"),
    "scan_receipt": (
        "请扫描受理回执条码，或刷身份证",
        "Scan the receipt barcode or place your ID card",
    ),
    "case_no": ("办件编号", "Case no."),
    "case_state": ("办理状态", "State"),
    "deadline": ("办结期限", "Deadline"),
    "level_none": ("【正常】在期限内", "[On time] within the deadline"),
    "level_yellow": ("【黄牌·即将超时】", "[Yellow · deadline close]"),
    "level_red": ("【红牌·已超时】", "[Red · past the deadline]"),
    "no_cases": ("没有查到办件。", "No case found."),
    "case_accepted": ("已受理", "Accepted"),
    "case_in_review": ("审核中", "In review"),
    "case_done": ("已办结", "Done"),
    "case_delivered": ("已送达", "Delivered"),
    "case_rejected": ("不予受理", "Rejected"),
    # rating
    "scan_ticket": ("请扫描号票上的二维码", "Scan the QR code on your ticket"),
    "use_my_ticket": ("评价刚取的号 {n}", "Rate ticket {n} you just took"),
    "rate_q": ("您对本次服务满意吗？", "How satisfied are you with the service?"),
    "lvl5": ("非常满意", "Very satisfied"),
    "lvl4": ("满意", "Satisfied"),
    "lvl3": ("基本满意", "Fairly satisfied"),
    "lvl2": ("不满意", "Dissatisfied"),
    "lvl1": ("非常不满意", "Very dissatisfied"),
    "reasons_q": ("请选择不满意的原因（可多选）", "Why? (choose one or more)"),
    "wait_long": ("等待时间长", "Long wait"),
    "attitude": ("服务态度差", "Poor attitude"),
    "unclear_materials": ("材料要求不清楚", "Unclear requirements"),
    "come_again": ("需要多次跑腿", "Had to come again"),
    "system_fault": ("系统或设备故障", "System or device fault"),
    "other": ("其他", "Other"),
    "comment": ("补充说明（可选）", "Comment (optional)"),
    "submit": ("提交", "Submit"),
    "rated": ("感谢您的评价！", "Thank you for your rating!"),
    "rated_queued": (
        "感谢您的评价！网络恢复后将自动提交。",
        "Thank you! It will be sent when the network is back.",
    ),
    "already_rated": (
        "这个号已经评价过了，每个号只能评价一次。",
        "This ticket has been rated already (one rating per ticket).",
    ),
    # help
    "help_q": ("需要什么帮助？", "What do you need?"),
    "help_helper": ("请帮办员过来帮我", "Ask a helper to come to me"),
    "help_unresolved": ("我的事没办成，要反映", "Report: I could not get it done"),
    "help_done": (
        "工作人员已收到，马上到{loc}找您，请在此稍候。",
        "Staff have been told and are coming to {loc}. Please wait here.",
    ),
    "help_queued": (
        "网络暂时中断，您的求助已保存，恢复后立即送达。急事请拨打 {phone} 或到咨询台。",
        "Network down: your request is saved and will be sent as soon as possible. "
        "For urgent help call {phone} or go to the information desk.",
    ),
    # mailing
    "mail_title": ("免费邮寄办理结果", "Free mailing of your result"),
    "ref": ("号票码或办件编号", "Ticket code or case no."),
    "recipient": ("收件人", "Recipient"),
    "phone": ("手机号码", "Phone"),
    "address": ("收件地址", "Address"),
    "mail_done": (
        "已登记，结果办好后免费寄给 {name}。",
        "Registered. The result will be mailed to {name} free of charge.",
    ),
    "clear": ("清空", "Clear"),
    "del": ("删除", "Delete"),
    "space": ("空格", "Space"),
    "kbd_pinyin": ("拼音", "Pinyin"),
    "kbd_abc": ("ABC", "ABC"),
    "kbd_ug": ("维吾尔文", "Uyghur"),
    "kbd_123": ("123", "123"),
    "kbd_hint_pinyin": (
        "拼音：按字母拼写，再点选汉字",
        "Pinyin: type the letters, then tap a character",
    ),
    "kbd_hint_abc": ("ABC：输入字母和数字", "ABC: letters and digits"),
    "kbd_no_match": ("没有这个拼音", "no such pinyin"),
    "kbd_prev": ("上一页", "Prev"),
    "kbd_next": ("下一页", "Next"),
    # errors
    "err_offline": (
        "连不上大厅系统，请稍后再试，或找工作人员。",
        "Cannot reach the hall system; try again later or ask staff.",
    ),
    "err_closed": ("现在非办公时间，不能取号。", "The windows are closed now."),
    "err_cap_reached": ("今天的号已经取完了。", "No more tickets today."),
    "err_not_found": ("没有找到，请核对后再试。", "Not found; please check and try again."),
    "err_too_early": ("还没到预约签到时间。", "Too early for your appointment."),
    "err_too_late": (
        "已超过预约签到时间，请普通取号。",
        "Too late for the appointment; please take a normal ticket.",
    ),
    "err_conflict": ("该操作已经做过了。", "That has been done already."),
    "err_bad_request": (
        "信息不完整，请重试或找工作人员。",
        "Something is missing; try again or ask staff.",
    ),
    "err_forbidden": ("不能办理，请找工作人员。", "Not allowed here; please ask staff."),
    "err_internal": ("系统出错了，请找工作人员。", "System error; please ask staff."),
    "err_unknown_op": ("系统出错了，请找工作人员。", "System error; please ask staff."),
    "err_empty": ("系统出错了，请找工作人员。", "System error; please ask staff."),
    "bad_code": (
        "这个码读不出来，请换个码或刷身份证。",
        "That code cannot be read; try another or use your ID card.",
    ),
    "need_identity": ("请先刷身份证或扫码。", "Place your ID card or scan a code first."),
    "need_reason": ("请至少选一个原因。", "Choose at least one reason."),
    "need_ref": ("请填写号票码或办件编号。", "Enter the ticket code or case no."),
    "need_recipient": ("请填写收件人。", "Enter the recipient."),
    "bad_phone": ("手机号码格式不对。", "The phone number is not valid."),
    "need_address": ("请填写完整地址。", "Enter the full address."),
    "priority_not_allowed": ("这个优先类别不适用。", "That priority does not apply."),
    "bad_choice": ("请重新选择。", "Please choose again."),
    "idcard_fault": (
        "身份证读卡器暂时不能用，请扫码或跳过。",
        "The ID card reader is not working; scan a code or skip.",
    ),
    "printer_fault": (
        "打印机暂时不能用（{reason}）。已通知工作人员。",
        "The printer is not working ({reason}). Staff have been told.",
    ),
    # privacy / time
    "countdown": ("{n} 秒后返回首页", "Back to home in {n} s"),
    "more_time_q": ("还需要更多时间吗？", "Do you need more time?"),
    "more_time": ("需要，再等等我", "Yes, more time"),
    "offer_elderly": (
        "看到您是长辈，要切换到大字和语音播报的长辈模式吗？",
        "Would you like large text and voice guidance?",
    ),
    "yes": ("好的", "Yes"),
    "got_it": ("知道了", "OK"),
    "diag_dev_idcard": ("身份证阅读器", "ID card reader"),
    "diag_dev_scanner": ("扫码器", "Code scanner"),
    "diag_dev_printer": ("打印机", "Printer"),
    "diag_dev_voice": ("语音", "Voice"),
    "diag_state_ready": ("正常", "ready"),
    "diag_state_busy": ("工作中", "busy"),
    "diag_state_degraded": ("可用，有告警", "working, with a warning"),
    "diag_state_fault": ("故障", "FAULT"),
    "diag_state_absent": ("未连接", "NOT CONNECTED"),
    "diag_state_connecting": ("连接中", "connecting"),
    # what a driver says of its state, in the kiosk's language where we know the words
    # (anything else is the driver's own words, for the technician)
    "diag_why_simulated": ("模拟设备", "simulated"),
    "diag_why_silent": ("无声，只记录", "silent, logged only"),
    "diag_why_unplugged": ("已拔出或端口丢失", "unplugged or port lost"),
    "diag_why_not_installed": ("未安装", "not installed"),
    "diag_why_reconnecting": ("正在重连", "reconnecting"),
    "diag_why_self_test_passed": ("自检通过", "self-test passed"),
    "diag_why_reading": ("正在读卡", "reading a card"),
    "diag_why_announcing": ("正在播报", "announcing"),
    "diag_why_driver": ("驱动原文：{text}", "driver: {text}"),
    "diag_last_error": ("{d} 最近错误", "{d} last error"),
    "diag_network": ("网络", "Network"),
    "diag_net_up": ("已连接大厅消息服务", "broker connected"),
    "diag_net_down": ("连不上大厅消息服务", "BROKER UNREACHABLE"),
    "diag_controller": ("大厅系统", "Hall controller"),
    "diag_ctl_ok": ("已收到状态", "status received"),
    "diag_ctl_none": ("尚未收到状态", "no status yet"),
    "diag_outbox": ("待发送", "Waiting to send"),
    "diag_software": ("软件版本", "Software"),
    "diag_hall": ("大厅配置", "Hall config"),
    "diag_terminal": ("终端", "Terminal"),
    "diag_self_test": ("自检 {d}", "Self-test {d}"),
    "diag_attention": ("需要处理", "Needs attention"),
    "leave_q": (
        "回到首页将清除您刚才填写和选择的内容，确定吗？",
        "Going home clears what you have entered here. Go home?",
    ),
    "leave_yes": ("回首页", "Go home"),
    "leave_no": ("继续填写", "Stay here"),
    "step_choose": ("选择事项", "Service"),
    "step_identify": ("验证身份", "Identity"),
    "step_priority": ("选择类别", "Priority"),
    "step_ticket": ("取号", "Ticket"),
    "step_scan": ("扫码", "Scan"),
    "step_rate": ("评价", "Rate"),
    "step_reasons": ("原因", "Reasons"),
    "step_done": ("完成", "Done"),
    "no": ("不用", "No"),
    "attract_voice": (
        "您好，欢迎使用自助服务。需要大字和语音，请点屏幕上方的长辈模式。",
        "Welcome. For large text and voice, press Large mode at the top of the screen.",
    ),
    # diagnostics
    "pin_q": ("维护密码", "Maintenance PIN"),
    "pin_bad": ("密码不对", "Wrong PIN"),
    "diag": ("设备诊断", "Diagnostics"),
    "self_test": ("自检", "Self-test"),
    "test_page": ("打印测试页", "Print test page"),
    "simulate_card": ("模拟刷身份证", "Simulate ID card"),
    "simulate_scan": ("模拟扫码", "Simulate scan"),
    "ok": ("确定", "OK"),
}


#: Punctuation per language: list separator, colon (with its space), clause separator.
_LIST_SEP = {"zh": "、", "en": ", ", "ug": "، "}
_COLON = {"zh": "：", "en": ": ", "ug": ": "}
_CLAUSE_SEP = {"zh": "；", "en": "; ", "ug": "؛ "}


def text(key: str, lang: str = "zh") -> str | None:
    """The text of ``key`` in ``lang`` without fallback (None: there is none)."""
    pair = T.get(key)
    if pair is None:
        return None
    if lang == "zh":
        return pair[0]
    if lang == "en":
        return pair[1]
    if lang == "ug":
        return UG.get(key)
    return None


def t(key: str, lang: str = "zh", **fmt: object) -> str:
    """``key``'s text in ``lang`` (Chinese when that language lacks it; the key itself
    when it is unknown), formatted with ``fmt``."""
    pair = T.get(key)
    if pair is None:
        return key
    out = text(key, lang) or pair[0]
    return out.format(**fmt) if fmt else out


def join_list(items: list[str], lang: str) -> str:
    """``a、b、c`` / ``a, b, c`` / ``a، b، c``."""
    return _LIST_SEP.get(lang, ", ").join(items)


def join_clauses(items: list[str], lang: str) -> str:
    """``a；b`` / ``a; b`` / ``a؛ b``."""
    return _CLAUSE_SEP.get(lang, "; ").join(items)


def colon(lang: str) -> str:
    """``：`` in Chinese, ``": "`` in English and Uyghur."""
    return _COLON.get(lang, ": ")


def is_rtl(lang: str) -> bool:
    return lang in RTL_LANGS
