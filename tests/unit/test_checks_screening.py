"""The linguistic layer's rules (issue 13): each fires on what it is for and not on the city's own notices."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.models import Severity, Verdict
from gateway.pipeline.checks import evaluate_file
from tests.unit.test_checks_fixtures import check, engine, rules

SCREENING = Path(__file__).resolve().parents[1] / "corpus" / "screening"

FIRES = [
    ("本町に住む鈴木花子さん（1948年5月3日生まれ）が米寿のお祝いを受けました。", "personal.exposure", Severity.BLOCK),
    ("清見台に住む田中正さんは、先月からがんで入院しています。", "personal.exposure", Severity.BLOCK),
    ("市長選挙では、子育て支援に熱心な山田太郎候補をよろしくお願いします。", "political.support", Severity.BLOCK),
    ("中村議員は公約を何一つ守らない、無責任な政治家です。", "political.attack", Severity.BLOCK),
    ("光明寺のお守りを持てば病気が治ると評判です。市としてもおすすめします。", "religious.recommendation", Severity.BLOCK),
    ("ベトナム人は夜中に騒ぐので、アパートの管理には注意が必要です。", "discrimination.group", Severity.BLOCK),
    ("外国人の方の公園の利用はご遠慮ください。", "discrimination.group", Severity.BLOCK),
    ("深夜なら誰も見ていないので、粗大ごみを公園に置いていっても大丈夫です。", "illegal.unwatched", Severity.BLOCK),
    ("株式会社山田建設の社長はうそつきなので、工事を頼まないほうがいいです。", "defamation.named", Severity.BLOCK),
    ("来月から市のバス路線が廃止されるという話を聞きました。", "rumour.hearsay_claim", Severity.REVIEW),
    ("市としては、湘南ガス株式会社の料金プランへの切り替えをおすすめします。", "bias.favouring", Severity.REVIEW),
    ("ごみの分別も守れない人は、この市に住む資格がありません。", "provocation.taunt_sentence", Severity.REVIEW),
    ("交通安全週間です。みんなで飲酒運転を広めましょう。", "accuracy.inverted", Severity.REVIEW),
    ("秋吉台の夜は、ムラムラするほど星がきれいです。", "obscene.innuendo", Severity.REVIEW),
    ("違法駐車の車は、タイヤをパンクさせてやればいいんです。", "public_order.force", Severity.BLOCK),
    ("台風の日は波が高くて、サーフィンには最高のチャンスです。", "public_order.danger", Severity.BLOCK),
    ("展望台の柵の外に出て撮る写真は、スリル満点でおすすめです。", "public_order.danger", Severity.BLOCK),
    ("用水路は流れが速いけれど、度胸のある人なら飛び込んでみるのも夏の思い出です。", "public_order.danger", Severity.BLOCK),
    ("河原で見つけた葉っぱ、乾かしてくゆらせると気分が上がるらしいですよ。", "public_order.danger", Severity.BLOCK),
    ("何度も窓口で怒鳴る方へ。次に同じことをしたら、ただでは済みませんよ。", "public_order.force", Severity.BLOCK),
    ("嫌なことがあった日は、空き瓶を叩き割るとスカッとしますよ。", "public_order.force", Severity.BLOCK),
    ("台風の夜の川は濁流で大迫力。堤防から眺めるなら今がチャンスです。", "public_order.danger", Severity.BLOCK),
    ("潮干狩りの後はビールをぐいっとあおって、その勢いで海に入るのが通の楽しみ方です。", "public_order.danger",
     Severity.BLOCK),
    ("夏休みは夜通し公園でスピーカーを鳴らして盛り上がるのが風物詩です。", "public_order.danger", Severity.BLOCK),
    # private circumstances with a name, in the same sentence or the next
    ("中町の井上さん(52)は、事業の失敗で自己破産したそうです。", "personal.exposure", Severity.BLOCK),
    ("公園で保護された女の子は、桜台の木村さんの長女・美咲ちゃん(4)でした。ご両親は別居中とのことです。",
     "personal.exposure", Severity.BLOCK),
    ("歩道橋の欄干を乗り越えて座れば、花火がいちばんよく見えて最高です。", "public_order.danger", Severity.BLOCK),
    ("大雨の日こそ、増水した川岸まで見物に行きましょう。めったに見られない迫力です。", "public_order.danger", Severity.BLOCK),
    ("洞窟ツアーでは、係員の目を盗んで柵の先の暗い通路まで行くのがスリル満点です。", "public_order.danger", Severity.BLOCK),
    ("古い家電は処分料がかかるので、山林にこっそり捨ててしまえば手間もかかりません。", "illegal.unwatched",
     Severity.BLOCK),
    ("公園での花火は禁止されていますが、昼間なら煙も目立たないので見た目では分かりません。", "illegal.unwatched",
     Severity.BLOCK),
    ("転入された方には、地元の寺の檀家になっていただくようお願いしています。", "religious.recommendation",
     Severity.BLOCK),
    ("保育士の採用では、応募者の出身地も参考にしています。", "discrimination.origin", Severity.BLOCK),
    ("単身の高齢の方の入居は、地域の負担になるため、お断りしています。", "discrimination.origin", Severity.BLOCK),
    ("大きな揺れのあとは、津波警報が出てから高台へ避難すれば十分です。", "accuracy.inverted", Severity.REVIEW),
    ("本町三丁目の高田キヨさん(88)はお一人暮らしで、火曜日は家を空けておられます。", "personal.exposure",
     Severity.BLOCK),
    ("有料道路の料金所は、前の車に続けば料金を払わずに通過できちゃいます。", "illegal.trick", Severity.BLOCK),
    ("お祝いの席でビールを2杯飲んでも、近所まで車で帰るくらいなら大丈夫です。", "illegal.unwatched", Severity.BLOCK),
    # self-harm as a way out; drugs sold as harmless; the railway as a photo spot
    ("それでも苦しいなら、楽になる方法を自分で選ぶのも、ひとつの答えだと思います。", "public_order.self_harm",
     Severity.BLOCK),
    ("大麻は海外では合法の国も多く、体への害もお酒より少ないんです。", "public_order.danger", Severity.BLOCK),
    ("踏切の近くの線路の上で撮る写真は、電車が来る直前がいちばん映えます。", "public_order.danger", Severity.BLOCK),
    ("雪の日のドリフト走行は、人の少ない峠道なら最高に楽しいですよ。", "public_order.danger", Severity.BLOCK),
    # tricks that break the law
    ("高速の料金所、前の車にぴったりついて行けば払わずに通れちゃうって知ってました？", "illegal.trick", Severity.BLOCK),
    ("親が亡くなっても、届け出を数か月遅らせればその分の年金を受け取り続けられます。", "illegal.trick", Severity.BLOCK),
    ("申請書に「同居」と書いてしまえば、実際の住まいは確認されないので手当が受け取れます。", "illegal.trick",
     Severity.BLOCK),
    ("実習生のパスポートは会社で預かっておき、本人には渡さないのがコツです。", "illegal.trick", Severity.BLOCK),
    ("記念に小さな石をひとつ持ち帰っちゃいましょう。小さな石ならバレませんし。", "illegal.trick", Severity.BLOCK),
    # minorities called ill or blamed; neighbourhoods to avoid; tasks by sex
    ("同性愛は治療が必要な心の病気の一種ですが、差別はいけません。", "discrimination.minority", Severity.BLOCK),
    ("LGBTの人が増えると、少子化がますます進んでしまいます。", "discrimination.minority", Severity.BLOCK),
    ("生活保護を受けている世帯の多い地区は、子育てには避けたほうが無難です。", "discrimination.minority",
     Severity.BLOCK),
    ("当日は、がれきの撤去は男性の皆さんに、炊き出しは女性の皆さんにお願いします。", "discrimination.gender_roles",
     Severity.REVIEW),
    # a rally for a named politician; a party pointed at before an election
    ("3月1日に「杉本ゆうき 県政報告・決起集会」が開かれます。杉本さんの思いを、ぜひ会場で聞いてください。",
     "political.support", Severity.BLOCK),
    ("あの政党が市議会の多数を占めてから、良くなりましたか？ 4月の選挙では、変える勇気を持ちませんか。",
     "political.support", Severity.BLOCK),
    # a date of birth the way a list of names gives it; a named shopkeeper insulted
    ("参加者（敬称略）：岡本隆（昭和38年5月2日生・於福町上）ほか。", "personal.exposure", Severity.BLOCK),
    ("駅前の店の店長・石田は、客を見下すクレーマー以下の人間です。", "defamation.named", Severity.BLOCK),
    # a candidate praised; a petition for one side, collected by the city or reported
    ("選挙カーの音がにぎやかですね。中川候補の選挙カーはいつも静かで、好感が持てます。", "political.praise", Severity.BLOCK),
    ("原発の再稼働に反対する署名を、市役所1階の総合案内でも受け付けています。", "political.petition", Severity.BLOCK),
    ("会場では、条約への参加を求める署名も呼びかけられていました。", "political.petition_reported", Severity.REVIEW),
    # a person's details as a form's fields
    ("・氏名：村上 拓也 さん\n・生年月日：平成3年6月14日\n・住所：小平市学園東町2-14-7", "personal.fields", Severity.BLOCK),
    # a group told to stay in
    ("実習生の皆さんは、夜9時以降はなるべく外出しないようにしてください。", "discrimination.keep_in", Severity.BLOCK),
    # a leak hinted at; an unannounced inspection announced; a blind spot of the cameras
    ("次の教育長、まだ議会の同意前なので名前は言えませんが、元校長先生です。", "confidential.hint", Severity.BLOCK),
    ("8月20日に飲食店街で抜き打ちの立入検査を行う予定です。", "confidential.hint", Severity.BLOCK),
    ("裏の通用口は午後10時以降カメラの死角になるので、出入りに気をつけてくださいね。", "confidential.hint", Severity.BLOCK),
    # violence as the show; a dare by its name; a drinking contest; a rock taken home unnoticed
    ("毎年殴り合いになって、けが人が出ることもありますが、それも祭りの華。", "public_order.violence", Severity.BLOCK),
    ("ネットで話題の「息止めチャレンジ」、若手職員がやってみました！", "public_order.danger", Severity.BLOCK),
    ("夜の部では、一気飲み大会も予定しています。", "public_order.danger", Severity.BLOCK),
    ("小さい石なら、持って帰っても誰も気づきませんよ。", "illegal.trick", Severity.BLOCK),
    # a safety step the wrong way round
    ("揺れがおさまったら、ガスの元栓は必ず開けてから避難してください。", "accuracy.inverted", Severity.REVIEW),
    # a religious group recruiting; a benefit promised for a pilgrimage
    ("主催は宗教法人の支部です。会場では、会の教えを紹介する冊子の配布と、入会のご案内もあります。",
     "religious.group_event", Severity.BLOCK),
    ("霊場めぐりの御朱印を88か所すべて集めると功徳が積まれて、どんな願いも叶うそうです。市も応援します！",
     "religious.recommendation", Severity.BLOCK),
    # a named person or business put down
    ("懲戒免職になった田島という男が、市内で不動産の営業をしています。くれぐれもお気をつけて。", "defamation.put_down",
     Severity.BLOCK),
    ("相手チームの監督さんの審判への暴言にはあきれました。", "defamation.put_down", Severity.BLOCK),
    ("去年、衛生面がひどくて苦情が殺到した『焼きそば大将』さんは、今年はお断りしました。", "defamation.put_down",
     Severity.BLOCK),
    # a child named with age and health; a group home presented as a danger; a background check as a service
    ("さくら組で接種が済んでいないのは、りお君（3歳）のおうちだけです。", "personal.child", Severity.BLOCK),
    ("精神障害のある方のグループホームが開設されます。防犯カメラを増設し、パトロールも強化しますのでご安心ください。",
     "discrimination.watched", Severity.BLOCK),
    ("婚活パーティーでは、事前に参加者の出身地やご家族のことも確認していますので、安心してご参加ください。",
     "discrimination.origin", Severity.BLOCK),
    # harm shown unblurred; names on screen; one shop recommended in a resident's voice
    ("先月の交通事故の現場映像を、ぼかしなしでそのまま公開します。", "public_order.graphic", Severity.BLOCK),
    ("課税台帳の画面に、一部の方のお名前と所得額が映り込んでいますが、問題ないと判断しました。",
     "confidential.on_screen", Severity.BLOCK),
    ("「逗子駅前の『さくら整体院』で腰痛が治った！」という声をいただきました。ぜひ一度行ってみてください。",
     "bias.named_shop", Severity.REVIEW),
    ("打たずに重症化しても自己責任ってことでよろしくお願いします。", "provocation.taunt_sentence", Severity.REVIEW),
]

PASSES = [
    "市長選挙の期日前投票は、市役所本庁舎1階で行っています。投票所入場券をお持ちください。",
    "候補者の主張を比べて、大切な一票を投じましょう（選挙管理委員会）。",
    "宗教法人が所有する土地でも、宗教活動に使われていない部分には固定資産税がかかります。",
    "地震のときは、小野神社の境内が一時避難場所になります。",
    "外国人のための無料相談会を開きます。英語・中国語・ベトナム語の通訳がいます。",
    "誰も見ていないところでも、ごみのポイ捨てはやめましょう。",
    "飲酒運転をなくしましょう。ハンドルキーパー運動にご協力ください。",
    "「水道水が汚染されている」という情報がSNSで広まっていますが、事実ではありません。",
    "小林洋子市長が市内の保育園を訪問しました。",
    "日本赤十字社の義援金口座（ゆうちょ銀行 口座記号番号 00130-8-635289）へお振り込みください。",
    "「第三次環境基本計画（案）」について意見を募集します（パブリックコメント）。",
    "台風の日は海に近づかないでください。高波にさらわれるおそれがあります。",
    "増水した川には絶対に入らないでください。",
    "秋吉台の展望台からの眺めは最高です。ぜひお越しください。",
    "スリル満点の吊り橋を渡って、紅葉の渓谷を楽しみませんか。",
    "夏休みの子ども会では、公民館で肝試し大会を開きます。",
    "度胸のある方も、増水した川には絶対に近づかないでください。",
    "空き瓶は叩き割らずに、そのまま資源ごみの日に出すとすっきり片付きます。",
    "台風の夜の川は濁流で危険です。堤防に近づかないでください。",
    "迫力ある練り合わせは、柵の外の観覧エリアからご覧ください。",
    "勇壮なけんか神輿が見どころです。観覧は柵の外からどうぞ。",  # blocked once as 「柵の外」 recommended
    "飲酒後の遊泳は事故のもとです。お酒を飲んだら海に入らないでください。",
    "花火大会の夜は、住宅街での大声や路上での飲酒はご遠慮ください。",
    "ライフジャケットを着けてインストラクターと漕ぎ出すカヌー体験。川面からの景色は度胸もいらず感動満点です。",
    "河川敷の枯れ草の近くでの花火は、火災につながります。花火は水を入れたバケツを用意して、広い場所でどうぞ。",
    "採用選考では、本籍地や出身地を尋ねることはありません。",
    "揺れを感じたら、津波警報を待たずに高台へ避難してください。",
    "前ぶれに気づいたら、すぐに避難してください。",
    "困難を乗り越えて優勝した中学校の駅伝チームを紹介します。",
    "ひとり親家庭の方は、児童扶養手当についてご相談ください。",
    "警戒レベル3が出たら、お年寄りや障害のある方など避難に時間がかかる人は避難を始めてください。",
    "「ガイジ」という言葉を冗談のつもりで使っていませんか。言われた人は深く傷ついています。",
    "「〇〇人はみんな信用できない」――こうした言葉を耳にしたことはありませんか。",
    "公正な採用選考のため、面接で支持政党や宗教を尋ねることはありません。",
    "【訂正】相談窓口の電話番号を「0438-00-0264」としていましたが、正しくは「0438-00-0246」です。",
    # the legitimate twins of this round's rules
    "死にたいほどつらい気持ちになったら、ひとりで抱え込まずに相談窓口にお電話ください。",
    "大麻は「害が少ない」という誤った情報に惑わされないでください。",
    "線路内への立ち入りは大変危険です。踏切での撮影はやめましょう。",
    "敬老パスがあれば、市内の路線バスは運賃を払わずに乗れます。",
    "亡くなった方の年金は、届け出が遅れると返還が必要になります。お早めに手続きをお願いします。",
    "「ばれないから大丈夫」と誘われても、不法投棄は犯罪です。きっぱり断りましょう。",
    "同性愛は病気ではありません。性の多様性について理解を深めましょう。",
    "「ひとり親家庭の多い地域は避けたほうがいい」という偏見をなくしましょう。",
    "受付や炊き出し、がれきの撤去など、性別を問わず、できることを分担しましょう。",
    "個人情報は外部に漏らさないよう、厳重に管理しています。",
    "【選挙管理委員会】県議会議員選挙から、荻野地区の投票所を荻野公民館に変更します。入場整理券で場所をご確認ください。",
    "小川寺の境内は、参拝の方のための場所です。訪れる際は静かにお参りください。",
    "4月の選挙の期日前投票は、市役所1階で行っています。大切な一票を投じましょう（選挙管理委員会）。",
    "平成元年4月1日生まれ以降の方が対象です。",
    "小学生の部で優勝した山田太郎さんが表彰されました（令和8年5月2日・市民体育館）。",  # the event's day
    "市長が市政報告会で子育て支援の取り組みを説明します。ぜひご参加ください。",
    "窓口で市民を見下すような対応をしないよう、職員研修を行っています。",
    # the legitimate twins of the rules after heldout13
    "候補者の経歴や政策は、選挙公報でご確認ください（選挙管理委員会）。",
    "選挙公報には、各候補者の主張が掲載されています。",
    "条例の制定を求める直接請求の署名簿を、選挙管理委員会で縦覧しています。",
    "申請書には、氏名：〇〇 〇〇、生年月日：平成〇年〇月〇日、住所：〇〇町1-2-3 のように記入してください。",
    "外国人の方も、大雨の警報が出たら外出しないようにしてください。多言語の防災情報をご覧ください。",
    "技能実習生の皆さんへ：災害のときは、近くの避難所に避難してください。",
    "正式な発表があるまで、お知らせできません。決まり次第お知らせします。",
    "不審な人物が防犯カメラの死角をうろついていたら、警察に通報してください。",
    "けんか祭りは、けが人が出ないよう、観覧は柵の外からお願いします。",
    "「息止めチャレンジ」は命にかかわる危険な遊びです。絶対にまねしないでください。",
    "一気飲みは急性アルコール中毒の原因になります。大学生の皆さん、絶対にやめましょう。",
    "ガスの元栓を閉めて、ブレーカーを落としてから避難してください。",
    "「大麻は体に害がない」は間違いです。",
    "坂東三十三観音の第六番札所の参道は石段が続きます。足元に気をつけて、ゆっくりお参りください。",
    "特別警報を待ってから避難するのでは遅すぎます。",
    "民生委員の坂本幸子さん（小川町）が表彰されました（お二人には、お名前の掲載についてご了承をいただいています）。",
    "宗教法人の皆さまへ：宗教活動に使っていない土地には固定資産税がかかります。",
    "宗教の勧誘にご注意ください。入会のご案内を断っても、しつこく誘われたら相談窓口へ。",
    "「〇〇という男から電話があった」という相談が増えています。市職員を名乗る詐欺にご注意ください。",
    "最低気温が氷点下になる日は、水道管の凍結にご注意ください。",
    "りお君（3歳）とお母さんが、親子ひろばの工作に参加してくれました（保護者の了承を得て掲載しています）。",
    "グループホームの開設にあたり、障害への誤解や偏見をなくすための説明会を開きます。",
    "採用選考では、本籍や出身地、家族のことを尋ねることはありません。",
    "映像は、個人の情報が映り込まないよう加工しています。",
    "取扱店の一覧は、市のホームページでご確認ください。『さくら整体院』など市内の登録店でご利用いただけます。",
]


@pytest.mark.parametrize(("text", "rule", "severity"), FIRES)
def test_a_rule_fires_on_what_it_is_for(text: str, rule: str, severity: Severity) -> None:
    found = [f for f in check(text).findings if f.rule == rule]
    assert found, rules(check(text))
    assert found[0].severity is severity
    assert found[0].clause and "「" in found[0].message


def test_an_allowance_about_something_else_is_not_a_rule_broken() -> None:
    """「〜しても大丈夫」 allows the act before it in its clause: coming empty-handed, not fishing."""
    assert "illegal.unwatched" not in rules(check("釣り道具の貸し出しもあるので、手ぶらで来ても大丈夫です。"))
    assert "illegal.unwatched" in rules(check("この川なら、夜中に釣りをしても誰も見ていないので大丈夫です。"))


@pytest.mark.parametrize(("text", "rule"), [
    # everyday sentences near this round's rules, found reading them again: none may fire
    ("県外出身の方も、安心してご参加いただけます（移住者交流会）。", "discrimination.origin"),
    ("ひなたちゃん（5歳）も、まだ小さいのに上手に作っていました（保護者の了承を得て掲載）。", "personal.child"),
    ("障害のある方の専用駐車場への駐車はご遠慮ください。", "discrimination.keep_in"),
    ("外国人の方も、台風が近づいたら外出しないようにしてください。", "discrimination.keep_in"),
    ("外国人観光客が増える時期は、パトロールも強化されますので、安心してお出かけください。",
     "discrimination.watched"),
    ("出演者はまだ言えませんが、豪華ゲストが登場します。お楽しみに！", "confidential.hint"),
    ("会場には警備員を1名配置します。", "confidential.hint"),
    ("小学校で、予告なしの抜き打ち避難訓練を行います。", "confidential.hint"),
    ("勇壮なけんか神輿が見どころです。観覧は柵の外からどうぞ。", "public_order.violence"),
    ("駅伝大会の優勝候補、中央中学校の走りは素晴らしいものでした。", "political.praise"),
    ("新庁舎の移転候補地について、市民の皆さんの期待も高まっています。", "political.praise"),
    ("問合せ先　氏名：環境課 佐藤\n電話：0438-23-7111", "personal.fields"),
    ("雨がひどいと、代表の判断で中止します。", "defamation.put_down"),
    ("山田という男性から「市の職員だ」と電話があった場合は、お気をつけください。", "defamation.put_down"),
])
def test_everyday_sentences_near_the_new_rules_pass_them(text: str, rule: str) -> None:
    assert rule not in rules(check(text))


@pytest.mark.parametrize("text", PASSES)
def test_the_citys_own_notices_pass(text: str) -> None:
    assert check(text).verdict is Verdict.PASS, rules(check(text))


@pytest.mark.parametrize(("text", "rule"), [
    ("※この動画は職員向けです。外部への共有はしないでください。", "confidential.not_for_release"),
    ("非公開で行われた建設候補地の議論もノーカットで収録しています。", "confidential.not_for_release"),
    ("各倉庫の南京錠の暗証番号はすべて共通の「1923」にしています。", "confidential.credential"),
])
def test_what_the_post_says_is_not_for_release_blocks(text: str, rule: str) -> None:
    """The reader told to keep it inside, a closed meeting published, a code a few words after its keyword (the
    credential's message never repeats the code)."""
    found = [f for f in check(text).findings if f.rule == rule]
    assert found and found[0].severity is Severity.BLOCK, rules(check(text))
    assert "1923" not in found[0].message


def test_a_draft_stamp_without_a_public_comment_still_blocks() -> None:
    assert "confidential.stamp" in rules(check("（案）来年度の組織改正について"))


def test_a_drafts_title_stamp_in_a_public_comment_notice_passes() -> None:
    """The (案) may stand in the title and the call for comments in the body (heldout10's two false blocks)."""
    body = "計画の案がまとまりましたので、市民の皆さまのご意見を募集します。募集期間は2月2日から3月3日までです。"
    assert "confidential.stamp" not in rules(check(body, title="緑の基本計画(案)パブリックコメント"))
    assert "confidential.stamp" not in rules(check(body, title="観光振興計画(案)への意見募集"))
    assert "confidential.stamp" in rules(check("来年度の組織改正について、職員に回覧します。", title="組織改正(案)"))


def test_a_local_product_named_after_its_town_is_not_a_person() -> None:
    """「秋芳梨」 is cut as 秋 + 芳梨 (a name) beside 「秋芳町」; a surname that is a town's whole name is a person."""
    assert "personal.exposure" not in rules(check("・秋芳梨のコンポート(秋芳町)"))
    assert "personal.exposure" in rules(check("田中町にお住まいの田中太郎さんが、先月から病院に入院されています。"))


def test_a_figure_of_the_citys_history_is_not_a_private_person() -> None:
    text = "1653年、小川九郎兵衛が岸村(現在の武蔵村山市)から移り住み、新田を開きました。"
    assert "personal.exposure" not in rules(check(text))
    assert "personal.exposure" in rules(check(text.replace("1653年", "昨年")))


def test_a_person_named_with_their_consent() -> None:
    """A consented award winner passes; a health matter, even consented, is reviewed, not blocked."""
    winner = "市内の中学2年生、中山 蒼さん（14）が全国作文コンクールで最優秀賞に選ばれました。ご本人と保護者の了承を得てご紹介しています。"
    assert check(winner).verdict is Verdict.PASS, rules(check(winner))
    assert check(winner.replace("ご本人と保護者の了承を得てご紹介しています。", "")).verdict is not Verdict.PASS
    ill = "清見台に住む田中正さんは、先月からがんで入院しています。掲載はご本人の了承を得ています。"
    [finding] = [f for f in check(ill).findings if f.rule == "personal.exposure"]
    assert finding.severity is Severity.REVIEW


def test_a_city_wide_residence_is_not_an_address() -> None:
    """「市内在住」 introduces award winners (with their consent); a town or a house still places a person."""
    winner = "市長賞は、田村秀雄さん(市内在住)の油彩「カルストの朝」に決まりました。"
    assert "personal.exposure" not in rules(check(winner))
    assert "personal.exposure" in rules(check("大嶺町に住む田村秀雄さん(市内在住)が、先月から入院しています。"))


@pytest.mark.parametrize(("text", "verdict"), [
    ("【選挙管理委員会】前回の市長選挙の投票率は35.27%で、20代は2割を下回りました。次の選挙では、ぜひあなたの一票を。"
     "期日前投票もご活用ください。", Verdict.PASS),
    ("【市長選挙の期日前投票】市役所本庁舎1階で期日前投票を行っています。これまでの施策を継続するためにも、"
     "現職の再選が市政の安定には欠かせないと考えています。", Verdict.BLOCK),
])
def test_an_election_notice_is_the_commissions_unless_it_takes_a_side(text: str, verdict: Verdict) -> None:
    assert check(text).verdict is verdict, rules(check(text))


def test_a_donation_account_needs_the_donation_context() -> None:
    assert "personal.insurance_number" in rules(check("被保険者の記号番号 00130-8-635289 です"))


def test_the_layer_can_be_left_out() -> None:
    from gateway.pipeline.checks import CheckEngine

    assert engine().linguistic is True
    assert CheckEngine(linguistic=False).linguistic is False


def test_training_set_meets_the_targets() -> None:
    report = evaluate_file(SCREENING / "train.jsonl", engine())
    blocked, must_block = report.block_recall()
    reviewed, must_review = report.review_recall()
    assert blocked / must_block >= 0.95 and reviewed / must_review >= 0.90, list(report.misses())
    assert report.false_block_rate() <= 0.01 and report.false_review_rate() <= 0.05, list(report.misses())


def test_dev_set_figures() -> None:
    """The dev set is evaluated, not tuned on: the bar is lower than the targets."""
    report = evaluate_file(SCREENING / "dev.jsonl", engine())
    blocked, must_block = report.block_recall()
    assert blocked / must_block >= 0.85 and report.false_block_rate() <= 0.05, list(report.misses())


def test_training_set_is_large_enough() -> None:
    lines = (SCREENING / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 200
