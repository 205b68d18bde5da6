"""Japanese post templates per alert kind and meaning.

Every text starts with the drill and lifecycle marks — 【訓練】 first for drills, then 【続報】, 【訂正】,
【取消】, 【解除】 or 【終了】 — and then the kind mark (【避難情報】, 【気象警報】 ...), and ends with the
issue time and the issuer, e.g. （12月4日10時05分 気象庁発表）, with the year when it is not this
year. Evacuation uses the current legal terms with their 警戒レベル (高齢者等避難［警戒レベル3］,
避難指示［警戒レベル4］, 緊急安全確保［警戒レベル5］) and the standard action phrases of the 内閣府
guideline. The meanings never mix: a lifting (解除), an ending (終了) or a cancellation (取消) never
carries an order's sentence, its call to act, or the source's own headline (which may repeat the
order). Wording follows the municipality's type (市・町・村・区). Source text that is quoted passes
through terms.clean(), which rewrites abolished terms (避難勧告 → 避難指示). The wording is factual
and neutral: no opinions, no names of people or parties, only the city's and the issuer's statements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gateway.alerts import terms
from gateway.alerts.draft import Draft, Items
from gateway.alerts.model import Action, Alert, AlertArea

JST = timezone(timedelta(hours=9), "JST")  # Japan has no daylight saving; no tz database needed

KIND_LABELS = {
    "evacuation": "避難情報", "shelter": "避難所情報", "weather_warning": "気象警報",
    "landslide": "土砂災害警戒情報", "record_rain": "記録的短時間大雨情報", "seismic": "地震情報",
    "tsunami": "津波情報", "flood_forecast": "指定河川洪水予報", "volcano": "噴火警報",
    "nankai": "南海トラフ地震臨時情報",
}
_LIFECYCLE_MARKS: dict[str, str] = {"update": "【続報】", "cancel": "【取消】", "lift": "【解除】", "ended": "【終了】"}
CLOSING = ("lift", "ended", "cancel")

_EVACUATION_GUIDANCE = {
    5: "既に災害が発生・切迫しています。命の危険があります。直ちに身の安全を確保してください。",
    4: "危険な場所から全員避難してください。",
    3: "危険な場所から高齢者等は避難してください。その他の方も避難の準備をしてください。",
}
_TSUNAMI_GUIDANCE = {
    "大津波警報": "沿岸部や川沿いにいる方は、ただちに高台や避難ビルなど安全な場所へ避難してください。"
                  "津波は繰り返し襲ってきます。警報が解除されるまで安全な場所から離れないでください。",
    "津波警報": "沿岸部や川沿いにいる方は、ただちに高台や避難ビルなど安全な場所へ避難してください。"
                "警報が解除されるまで安全な場所から離れないでください。",
    "津波注意報": "海の中にいる方はただちに海から上がって、海岸から離れてください。"
                  "注意報が解除されるまで海に入ったり海岸に近づいたりしないでください。",
}
_NANKAI_GUIDANCE = {
    "巨大地震警戒": "南海トラフ地震の発生の可能性が平常時と比べて相対的に高まっています。"
                    "日頃からの地震への備えを再確認し、{word}からの情報に従って行動してください。",
    "巨大地震注意": "南海トラフ地震の発生の可能性が平常時と比べて相対的に高まっています。"
                    "日頃からの地震への備えを再確認してください。",
    "調査中": "今後の情報に注意してください。",
}


@dataclass(frozen=True)
class View:
    """What one municipality posts about one alert."""

    alert: Alert
    action: Action
    place: str  # the municipality's name
    areas: tuple[AlertArea, ...]  # the alert's areas that concern it (or the alert's main areas when forced)
    matched: bool  # False when the areas are the alert's own (a drill forced onto a city, a preview)
    now: datetime | None = None  # the year is shown when the alert's is not this one

    @property
    def word(self) -> str:
        """The municipality's type as residents say it: 市, 町, 村, 区."""
        return municipality_word(self.place)


def municipality_word(name: str) -> str:
    return next((suffix for suffix in ("市", "町", "村", "区") if name.endswith(suffix)), "自治体")


def render(view: View) -> Draft:
    if view.action == "cancel":
        draft = _cancel(view)
    else:
        builder = _BUILDERS.get(view.alert.kind or "", _generic)
        draft = builder(view)
    marks = ("【訓練】" if view.alert.drill else "") + _lifecycle_mark(view)
    draft.required[0] = marks + draft.required[0]
    if view.alert.drill:
        draft.required.append("※これは訓練です。")
    draft.footer = source_line(view.alert, view.now)
    return draft


def _lifecycle_mark(view: View) -> str:
    if view.alert.correction and view.action in ("issue", "update"):
        return "【訂正】"
    return _LIFECYCLE_MARKS.get(view.action, "")


def when(value: datetime | str, now: datetime | None = None) -> str:
    """11月21日10時05分 (JST); 2024年11月21日10時05分 when `now` is in another year."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ""
    local = value.astimezone(JST) if value.tzinfo else value
    year = ""
    if now is not None and now.astimezone(JST).year != local.year:
        year = f"{local.year}年"
    return f"{year}{local.month}月{local.day}日{local.hour}時{local.minute:02d}分"


def source_line(alert: Alert, now: datetime | None = None) -> str:
    return f"（{when(alert.sent, now)} {alert.sender}発表）"


def _quoted_headline(view: View) -> str | None:
    """Free-text formats (CAP, JSON) carry their message in the headline: quoted, cleaned, and only while
    the alert is in force (a lifting must not repeat the order's words)."""
    if view.action in CLOSING:
        return None
    if view.alert.format in ("cap", "json") and view.alert.headline:
        return terms.clean(view.alert.headline)
    return None


def _cancel(view: View) -> Draft:
    label = KIND_LABELS.get(view.alert.kind or "", "情報")
    return Draft([f"先ほどお知らせした{label}は、発表元（{view.alert.sender}）により取り消されました。",
                  "取り消された情報に基づく行動はとらないでください。今後の情報に注意してください。"])


def _evacuation(view: View) -> Draft:
    term = view.alert.detail_str("evacuation_type")
    level = view.alert.detail_int("level") or terms.LEVEL_OF.get(term)
    named = f"{term}［警戒レベル{level}］" if term and level else term or "避難情報"
    subareas = tuple(dict.fromkeys(s for a in view.areas for s in a.subareas))
    target = "次の地区に" if subareas else ""
    if view.action == "lift":
        draft = Draft([f"【避難情報】{view.place}は、{target}発令していた{named}を解除しました。"])
    elif view.action == "ended":
        draft = Draft([f"【避難情報】{view.place}の{target}{named}についての情報は終了しました。"])
        draft.required.append("今後の情報に注意してください。")
    else:
        draft = Draft([f"【避難情報】{view.place}は、{target}{named}を発令しました。"])
        if level in _EVACUATION_GUIDANCE:
            draft.required.append(_EVACUATION_GUIDANCE[level])
    draft.add(Items("対象地区", _clean_all(subareas)))
    draft.add(_quoted_headline(view))
    return draft


def _clean_all(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(terms.clean(v) for v in values)


def _shelter(view: View) -> Draft:
    opened = view.alert.detail_tuple("shelters") or tuple(s for a in view.areas for s in a.subareas)
    closed = view.alert.detail_tuple("closed_shelters")
    if view.action in ("lift", "ended"):
        draft = Draft([f"【避難所情報】{view.place}は、避難所を閉鎖しました。"])
        draft.add(Items("閉鎖した避難所", closed or opened))
    else:
        draft = Draft([f"【避難所開設】{view.place}は、避難所を開設しました。"])
        draft.required.append("避難の際は、動きやすい服装で、食料・飲料水・常備薬等を持参してください。")
        draft.add(Items("開設した避難所", opened))
    draft.add(_quoted_headline(view))
    return draft


def _weather(view: View) -> Draft:
    current = tuple(dict.fromkeys(label for a in view.areas for label in a.labels))
    current = current or view.alert.detail_tuple("warnings")
    lifted = tuple(dict.fromkeys(label for a in view.areas for label in a.lifted))
    closing = view.action in ("lift", "ended")
    special = any("特別警報" in w for w in (lifted or current if closing else current))
    mark = "【気象特別警報】" if special else "【気象警報】"
    if closing:
        ended = lifted or current
        verb = "は解除されました" if view.action == "lift" else "についての情報は終了しました"
        return Draft([f"{mark}{view.place}の{'・'.join(ended)}{verb}。", "引き続き今後の気象情報に注意してください。"])
    verb = "が発表されています" if view.action == "update" else "が発表されました"
    draft = Draft([f"{mark}{view.place}に{'・'.join(current)}{verb}。"])
    draft.required.append(_weather_guidance(current, view.word))
    if lifted:
        draft.add(f"（{'・'.join(lifted)}は解除されました）")
    draft.add(_quoted_headline(view))
    return draft


def _weather_guidance(current: tuple[str, ...], word: str) -> str:
    if any("特別警報" in w for w in current):
        return "これまでに経験したことのないような重大な危険が差し迫っています。直ちに命を守る行動をとってください。"
    levels = [lv for lv in (terms.level_in(w) for w in current) if lv]
    if levels and max(levels) >= 4:
        return f"危険な場所からの避難が必要となる状況です。{word}の避難情報を確認し、早めに安全を確保してください。"
    return f"今後の気象情報と{word}からの避難情報に注意してください。"


def _landslide(view: View) -> Draft:
    if view.action in ("lift", "ended"):
        return Draft([f"【土砂災害警戒情報】{view.place}の土砂災害警戒情報は解除されました。",
                      "引き続き今後の気象情報に注意してください。"])
    verb = "が引き続き発表されています" if view.action == "update" else "が発表されました"
    return Draft([f"【土砂災害警戒情報】{view.place}に土砂災害警戒情報{verb}［警戒レベル4相当］。",
                  f"土砂災害警戒区域等にお住まいの方は、{view.word}の避難情報に従い、危険な場所から全員避難してください。"])


def _record_rain(view: View) -> Draft:
    observed = view.alert.detail_str("observed")
    places = [a for a in view.areas if a.code_type == "place"]
    if view.matched and places:
        spots = "、".join(f"{a.name}付近で{a.labels[0] if a.labels else ''}" for a in places)
    else:
        spots = "、".join(view.alert.detail_tuple("observations"))
    head = f"【記録的短時間大雨情報】{observed}。" if observed else "【記録的短時間大雨情報】"
    draft = Draft([f"{head}{spots}の記録的短時間大雨を観測・解析しました。" if spots else
                   f"{head}{view.place}周辺で記録的短時間大雨を観測・解析しました。"])
    draft.required.append(f"土砂災害や低い土地の浸水、河川の増水・氾濫に厳重に警戒し、{view.word}の避難情報に注意してください。")
    return draft


def _seismic(view: View) -> Draft:
    alert, code = view.alert, _view_intensity(view)
    origin = when(alert.detail_str("origin_time") or alert.sent, view.now)
    hypocenter, magnitude = alert.detail_str("hypocenter"), alert.detail_str("magnitude")
    source = f"{hypocenter}を震源とする" if hypocenter else ""
    scale = f"（{magnitude}）" if magnitude else ""
    observed = f"{_intensity_place(view)}震度{terms.intensity_label(code)}を観測しました。" if code else ""
    draft = Draft([f"【地震情報】{origin}ころ、{source}地震がありました{scale}。{observed}"])
    if view.action in ("lift", "ended"):
        return draft
    if terms.intensity_rank(code) >= terms.intensity_rank("5-"):
        draft.required.append("身の安全を確保し、火の元や家族の安全を確認してください。今後の余震に注意してください。")
    else:
        draft.required.append("今後の情報に注意してください。")
    draft.add(alert.detail_str("comment") or None)
    draft.add(_quoted_headline(view))
    return draft


def _intensity_place(view: View) -> str:
    """小平市で — or, from a report by region, 東京都多摩東部（小平市を含む地域）で."""
    if not view.matched:
        return "最大"
    if all(a.code_type == "seismic_area" for a in view.areas if a.intensity):
        regions = "・".join(dict.fromkeys(a.name for a in view.areas if a.intensity))
        return f"{regions}（{view.place}を含む地域）で"
    return f"{view.place}で"


def _view_intensity(view: View) -> str | None:
    codes = [a.intensity for a in view.areas if a.intensity]
    if codes and view.matched:
        return max(codes, key=terms.intensity_rank)
    return view.alert.detail_str("max_intensity") or (max(codes, key=terms.intensity_rank) if codes else None)


def _tsunami(view: View) -> Draft:
    regions = "・".join(dict.fromkeys(a.name for a in view.areas if a.name)) or view.place
    if view.action in ("lift", "ended"):
        lifted = "・".join(dict.fromkeys(g for a in view.areas for g in a.lifted if g))
        lifted = lifted or view.alert.detail_str("tsunami_grade") or "津波警報・注意報"
        verb = "は解除されました" if view.action == "lift" else "についての情報は終了しました"
        return Draft([f"【津波情報】{regions}の{lifted}{verb}。",
                      "海に入る際や海岸付近では、引き続き十分注意してください。"])
    grades = [a.labels[0] for a in view.areas if a.labels] or [view.alert.detail_str("tsunami_grade")]
    grade = min((g for g in grades if g), key=_grade_rank, default="")
    verb = "が発表されています（情報更新）" if view.action == "update" else "が発表されました"
    draft = Draft([f"【{grade or '津波情報'}】{regions}に{grade or '津波警報・注意報'}{verb}。"])
    draft.required.append(_TSUNAMI_GUIDANCE.get(grade, _TSUNAMI_GUIDANCE["津波警報"]))
    downgraded = tuple(dict.fromkeys(g for a in view.areas for g in a.lifted if g))
    if downgraded:
        draft.add(f"（{'・'.join(downgraded)}は{grade}に切り替えられました）")
    if len(view.areas) == 1:  # arrival time and height belong to one region
        draft.add("、".join(view.areas[0].labels[1:]) or None)
    draft.add(_quoted_headline(view))
    return draft


def _grade_rank(grade: str) -> int:
    order = ("大津波警報", "津波警報", "津波注意報")
    return order.index(grade) if grade in order else len(order)


def _flood(view: View) -> Draft:
    river = view.alert.detail_str("river")
    kind = view.alert.detail_str("flood_kind") or "指定河川洪水予報"
    level = view.alert.detail_int("level")
    where = f"{river}の" if river else ""
    if view.action in ("lift", "ended"):
        return Draft([f"【指定河川洪水予報】{where}{kind}は解除されました。", "引き続き河川の増水に注意してください。"])
    grade = f"［警戒レベル{level}相当］" if level else ""
    verb = "が発表されています（情報更新）" if view.action == "update" else "が発表されました"
    draft = Draft([f"【指定河川洪水予報】{where}{kind}{grade}{verb}。"])
    if (level or 0) >= 4:
        draft.required.append(f"{view.word}の避難情報に従い、危険な場所から全員避難してください。")
    else:
        draft.required.append(f"今後の河川の水位と{view.word}からの避難情報に注意してください。")
    subareas = tuple(dict.fromkeys(s for a in view.areas for s in a.subareas))
    draft.add(Items(f"{view.place}の浸水想定地区", _clean_all(subareas)))
    return draft


def _volcano(view: View) -> Draft:
    volcano = view.alert.detail_str("volcano") or "火山"
    warnings = "・".join(dict.fromkeys(label for a in view.areas for label in a.labels))
    scale = _volcano_level(view.alert.detail_str("volcano_level"))
    if view.action in ("lift", "ended"):
        lifted = "・".join(dict.fromkeys(g for a in view.areas for g in a.lifted)) or "噴火警報"
        return Draft([f"【噴火警報】{volcano}の{lifted}は解除されました{scale}。",
                      "引き続き火山の情報に注意してください。"])
    verb = "が引き続き発表されています" if view.action == "update" else "が発表されました"
    return Draft([f"【噴火警報】{volcano}に{warnings or '噴火警報'}{scale}{verb}。",
                  f"{view.word}の指示に従い、警戒が必要な範囲には立ち入らないでください。"])


def _volcano_level(label: str) -> str:
    """レベル3（入山規制） → ［噴火警戒レベル3：入山規制］ (not the 警戒レベル of evacuation)."""
    if not label.startswith("レベル"):
        return ""
    number, _, rest = label.partition("（")
    return f"［噴火警戒{number}：{rest.rstrip('）')}］" if rest else f"［噴火警戒{number}］"


def _nankai(view: View) -> Draft:
    keyword = view.alert.detail_str("keyword")
    name = f"南海トラフ地震臨時情報（{keyword}）" if keyword else "南海トラフ地震臨時情報"
    if view.action in ("lift", "ended"):
        return Draft([f"【{name}】気象庁は、南海トラフ地震との関連性についての調査を終了しました。",
                      "日頃からの地震への備えを続けてください。"])
    draft = Draft([f"【{name}】気象庁から{name}が発表されました。"])
    guidance = _NANKAI_GUIDANCE.get(keyword, _NANKAI_GUIDANCE["調査中"])
    draft.required.append(guidance.format(word=view.word))
    return draft


def _generic(view: View) -> Draft:
    if view.action in CLOSING:
        label = KIND_LABELS.get(view.alert.kind or "", "緊急情報")
        verb = "は解除されました" if view.action == "lift" else "についての情報は終了しました"
        return Draft([f"【{label}】{view.place}に関する{view.alert.title or label}{verb}。"])
    return Draft([f"【緊急情報】{terms.clean(view.alert.headline) or view.alert.title}"])


_BUILDERS: dict[str, Callable[[View], Draft]] = {
    "evacuation": _evacuation, "shelter": _shelter, "weather_warning": _weather, "landslide": _landslide,
    "record_rain": _record_rain, "seismic": _seismic, "tsunami": _tsunami, "flood_forecast": _flood,
    "volcano": _volcano, "nankai": _nankai,
}
