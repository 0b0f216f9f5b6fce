"""New text for the prompts no cache can hold: ASCII prose-and-code, and Chinese.

Each text is drawn from a seed of its own, so neither a prefix cache, a segment cache nor
a per-word cache has seen most of it. Sizes are in tokens of the bench's tokenizer (Qwen3),
measured once when these generators were written: `fresh_text` makes about one token per
unit asked for, `zh_text` too (a mix of single-token characters and pairs that merge).
"""

from __future__ import annotations

import random
import string

__all__ = ["fresh_text", "zh_text"]

# Common words (one token each with their leading space), words made up on the spot (two to
# four tokens: BPE has to merge them), numbers, and code punctuation.
_COMMON = ("the of and to in is that for it as with was on be by this are or from at which "
           "data model system value time user request result error file function code number").split()
_MARKS = ("(x)", "{k: v}", "a_b", "CamelCase", "--", "#", "@", ";", ".\n", ",\n\n", "\t", "=>", "[i]")
# The 600 CJK ideographs of the lowest ids in Qwen3's vocabulary: the most frequent ones.
_HANZI = (
    "年数日的月用成名时件一请中据码不新文下分入人功上户为间号取回在页字有个作示出是失表除加败生信类置理本息行定改市期以修元方"
    "录区单位型法县存品前称注值输建能大例度始到面载点密动果图提发式国登错者认误接关重第地如设目开事可要代小选标明编求列网万最"
    "器所内体通务此商序化消否保使次机对量查部性和更后证题确格了于金公午円片空态管主天自我全今来正说意送容已结会段计源色時交系"
    "过电询符未程常条当情口合车实组版周址记二同业权其进试验料传述集多无员报他無服线这制将处高子道章手库三从支家长付秒路完象则"
    "现京转辑限力学外调项北工笑监任相微册联平增听解等得收安价藏命应看索资产串布原知级水击好物放亿经模之台州配画统共连海节退間"
    "比问至备你黑或与影话视读告美女山需复南必闭城近效利移总按排首記社西先然键额写签因别并异束心链指评整四断角软头邮义司步门导"
    "客右频像特非省造径详由包东论络款启而填释持向算江里份责科民治声男族站没県雅换核素都超店起享拉米引语土宋直每箱後参变基場待"
    "规政也介钟五审木打活播该展钮具志言购但星两左考构報球音端投立们火清账就费案广历及計止么货阳队技场少形稿英游供推税初私景去"
    "华話番环张開种易您再板連真流余见给局优书思見動运样销即只老岁找稍达院価気约速停反票十身含率汽专歳関议雷些界陆倍読检还析企"
    "友简問装感哈何预尔着很想质气教创做战强深几委各受职风营党那领术什房精太股光极办花研快师越观育爱白世眼被干病士让热较儿助积"
)
_ZH_MARKS = "，。、；：！？「」（）"


def fresh_text(seed: int, tokens: int) -> str:
    """About `tokens` tokens of mostly new ASCII text."""
    rng = random.Random(seed)
    out: list[str] = []
    count = 0
    while count < tokens:
        roll = rng.random()
        if roll < 0.55:
            out.append(rng.choice(_COMMON))
            count += 1
        elif roll < 0.85:
            out.append("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 11))))
            count += 4
        elif roll < 0.93:
            out.append(str(rng.randrange(10 ** rng.randint(1, 7))))
            count += 3
        else:
            out.append(rng.choice(_MARKS))
            count += 2
    return " ".join(out)


def zh_text(seed: int, tokens: int) -> str:
    """About `tokens` tokens of Chinese-looking text: runs of common characters between
    punctuation, now and then a number or a Latin word."""
    rng = random.Random(seed)
    out: list[str] = []
    count = 0
    while count < tokens:
        run = rng.randint(4, 24)
        out.append("".join(rng.choices(_HANZI, k=run)))
        count += run
        roll = rng.random()
        if roll < 0.9:
            out.append(rng.choice(_ZH_MARKS))
            count += 1
        else:
            out.append(rng.choice((" GPU ", "2026年", " 3.5%", "\n\n", " API ")))
            count += 2
    return "".join(out)
