"""Writes mcq.jsonl and mcq_questions.jsonl: r1eval's multiple-choice extraction corpus.

Each case is an answer form taken from another project's public MCQ extraction tests, regexes or issue
threads (cited in `source`), converted by us into a reasoning-model completion: a `<think>` block that
mentions other letters in passing, then the answer text in that form. The questions are neutral ones we
made up (no benchmark text). Every form is instantiated several times: with the gold letter (label true),
with another letter (label false), on 4- and 10-choice questions, with varied reasoning. Hand-written
adversarial cases (letters only in the reasoning, hedges, unclosed think, articles, negations) follow.

Fields: id, source, question_id (a row of mcq_questions.jsonl, 4-choice questions only), choices, gold,
completion, expected (the letter a correct extractor reads, or null), label (the source's verdict:
is this reply correct?).

Run: python tests/grading_corpus/mcq_make_corpus.py   (deterministic; rewrites both files)
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
LETTERS = "ABCDEFGHIJ"

# our own questions (question, choices, index of the right choice)
QUESTIONS_4 = [
    ("Which planet in the Solar System has the greatest mass?", ["Mars", "Venus", "Jupiter", "Mercury"], 2),
    ("What is the chemical symbol for sodium?", ["S", "Na", "So", "Sd"], 1),
    ("How many sides does a hexagon have?", ["5", "7", "8", "6"], 3),
    ("Which gas do plants take in for photosynthesis?", ["Carbon dioxide", "Oxygen", "Nitrogen", "Helium"], 0),
    ("What is 12 times 12?", ["124", "132", "144", "154"], 2),
    ("Which organ pumps blood through the body?", ["Liver", "Heart", "Lung", "Kidney"], 1),
    ("At sea level, pure water boils at about", ["90 °C", "110 °C", "120 °C", "100 °C"], 3),
    ("Which of these numbers is prime?", ["29", "21", "27", "33"], 0),
    ("The SI unit of force is the", ["joule", "watt", "newton", "pascal"], 2),
    ("Which layer of the Earth lies directly beneath the crust?", ["outer core", "mantle", "inner core",
                                                                    "ionosphere"], 1),
    ("The speed of light in vacuum is closest to", ["3 x 10^5 m/s", "3 x 10^6 m/s", "3 x 10^10 m/s",
                                                     "3 x 10^8 m/s"], 3),
    ("Which element has atomic number 6?", ["Carbon", "Oxygen", "Nitrogen", "Boron"], 0),
    ("The interior angles of a triangle sum to", ["90 degrees", "270 degrees", "180 degrees", "360 degrees"], 2),
    ("Which of these is a noble gas?", ["Chlorine", "Argon", "Sulfur", "Potassium"], 1),
    ("What is the derivative of x^2 with respect to x?", ["x", "x^2", "2", "2x"], 3),
    ("Which value is closest to Euler's number e?", ["2.72", "3.14", "1.41", "1.73"], 0),
]
QUESTIONS_10 = [  # MMLU-Pro style, letters A-J
    ("What is the smallest prime number greater than 20?",
     ["21", "22", "23", "24", "25", "26", "27", "28", "29", "30"], 2),
    ("How many minutes are there in 2.5 hours?",
     ["120", "125", "130", "135", "140", "145", "150", "155", "160", "165"], 6),
    ("Which month of the Gregorian calendar has 28 or 29 days?",
     ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"], 1),
    ("How many edges does a cube have?", ["4", "6", "8", "10", "11", "12", "14", "16", "18", "20"], 5),
    ("What is 7 times 8?", ["48", "49", "50", "52", "54", "55", "56", "58", "63", "64"], 6),
    ("Which is the ninth letter of the English alphabet?",
     ["A", "E", "F", "G", "H", "J", "K", "L", "M", "I"], 9),
]

# ---------------------------------------------------------------------------------------------------
# answer forms: (source, template, kinds). {L} the stated letter, {l} it in lowercase, {T} its choice text,
# {W} / {V} two other letters, {TW} the text of {W}, {AR} / {BN} / {FW} the stated letter in Arabic,
# Bengali or fullwidth script. kinds: "4" and/or "10" (question sizes the form is used with).

LIGHTEVAL = "huggingface/lighteval tests/metrics/test_extractive_match.py"
LIGHTEVAL_ML = "huggingface/lighteval tests/metrics/test_extractive_match.py (test_multilingual_extraction_abc)"
LIGHTEVAL_RE = "huggingface/lighteval src/lighteval/metrics/utils/extractive_match_utils.py (lazy_indices_regex)"
SIMPLE = "openai/simple-evals common.py (ANSWER_PATTERN_MULTICHOICE)"
SIMPLE_ML = "openai/simple-evals common.py (MULTILINGUAL_ANSWER_REGEXES, normalize_extracted_answer)"
SIMPLE_NORM = "openai/simple-evals common.py (normalize_response)"
LM_GPQA = "EleutherAI/lm-evaluation-harness lm_eval/tasks/gpqa/cot_zeroshot/_gpqa_cot_zeroshot_yaml"
LM_GPQA_R = "EleutherAI/lm-evaluation-harness lm_eval/tasks/gpqa/reasoning/_gpqa_reasoning_yaml (strip_think)"
LM_PRO = "EleutherAI/lm-evaluation-harness lm_eval/tasks/mmlu_pro/_default_template_yaml (custom-extract)"
LM_4188 = "https://github.com/EleutherAI/lm-evaluation-harness/pull/4188"
GPT_OSS = "openai/gpt-oss gpt_oss/evals/abcd_grader.py"
OPENBENCH = "groq/openbench src/openbench/scorers/mcq.py (MCQ_PATTERNS)"
OPENR1 = "huggingface/open-r1 src/open_r1/rewards.py (format_reward, accuracy_reward)"

FORMS: list[tuple[str, str, str]] = [
    # lighteval: letter answers in free text
    (LIGHTEVAL, "thinking about it I think the correct answer is {L}", "4"),
    (LIGHTEVAL, "Let's think step by step. It's not {W} because it doesn't make sense, therefore I think it's {L}",
     "4"),
    (LIGHTEVAL, "The answer is for sure {L}, it can't be {W} or {V}", "4 10"),
    (LIGHTEVAL, "The answer: {L}, it doesn't make sense for it to be {W} or {V}", "4"),
    (LIGHTEVAL, "{L}. it can't be {W} or {V}", "4"),
    (LIGHTEVAL, "{L}", "4 10"),
    (LIGHTEVAL, "So, summing up what I found:\nthe answer is\n({L}) {T}", "4"),
    (LIGHTEVAL_ML, "réponse est {L} non {W}", "4"),
    (LIGHTEVAL_ML, "{L}。 不是 {W}", "4"),
    (LIGHTEVAL_ML, "{L}。不是 {W}", "4"),
    (LIGHTEVAL_ML, "{L}不是 {W}", "4"),
    (LIGHTEVAL_RE, "The final answer is {L}. I hope it is correct.", "4 10"),
    (LIGHTEVAL_RE, "The final answer is $\\boxed{{L}}$. I hope it is correct.", "4"),
    (LIGHTEVAL_RE, "My final answer to your question is: **{L}**", "4"),
    # simple-evals: 'Answer: $LETTER' and its multilingual forms
    (SIMPLE, "{T} is the only option consistent with the data.\n\nAnswer: {L}", "4 10"),
    (SIMPLE, "answer: {l}", "4"),
    (SIMPLE, "Answer:{L}", "4"),
    (SIMPLE, "Answer : ${L}$", "4"),
    (SIMPLE, "ANSWER: {L}", "4 10"),
    (SIMPLE_ML, "Antwort: {L}", "4"),
    (SIMPLE_ML, "答案：{L}", "4"),
    (SIMPLE_ML, "答：{L}", "4"),
    (SIMPLE_ML, "Respuesta: {L}", "4"),
    (SIMPLE_ML, "Risposta: {L}", "4"),
    (SIMPLE_ML, "答え：{L}", "4"),
    (SIMPLE_ML, "回答：{L}", "4"),
    (SIMPLE_ML, "Jawaban: {L}", "4"),
    (SIMPLE_ML, "Réponse : {L}", "4"),
    (SIMPLE_ML, "Resposta: {L}", "4"),
    (SIMPLE_ML, "Jibu: {L}", "4"),
    (SIMPLE_ML, "정답: {L}", "4"),
    (SIMPLE_ML, "답변: {L}", "4"),
    (SIMPLE_ML, "उत्तर: {L}", "4"),
    (SIMPLE_ML, "الإجابة: {AR}", "4"),
    (SIMPLE_ML, "الإجابة الصحيحة هي: {AR}", "4"),
    (SIMPLE_ML, "উত্তরঃ {BN}", "4"),
    (SIMPLE_ML, "Answer: {FW}", "4"),
    (SIMPLE_ML, "答案：（{FW}）", "4"),
    (SIMPLE_NORM, "**Answer:** {L}", "4 10"),
    (SIMPLE_NORM, "Answer: $\\boxed{{L}}$", "4"),
    (SIMPLE_NORM, "Answer: $\\text{{L}}$", "4"),
    (SIMPLE_NORM, "Answer: $\\mathrm{{L}}$", "4"),
    (SIMPLE_NORM, "Answer: \\mathbf{{L}}", "4"),
    ("https://github.com/openai/simple-evals/issues/33", "Antwort:\n\nAntwort: {L}", "4"),
    ("https://github.com/openai/simple-evals/pull/34",
     "Answer: {W}\n\nHmm, that was a slip; re-reading the question it must be the other one.\n\nAnswer: {L}", "4"),
    # lm-evaluation-harness
    (LM_GPQA, "Putting it together, the answer is ({L}).", "4"),
    (LM_GPQA, "Between ({W}) and ({L}), only one survives the check, so I pick ({L}).", "4"),
    (LM_GPQA_R, "The answer is ({L}).", "4"),
    (LM_PRO, "The answer is ({L}).", "10"),
    (LM_PRO, "Checking each option in turn, the answer is {L}.", "10"),
    (LM_PRO, "Answer: {L}", "10"),
    (LM_4188, "{l}", "4"),
    (LM_4188, "{l}. {T}", "4"),
    (LM_4188, "The answer is {L} because a short check rules the rest out.", "4 10"),
    (LM_4188, "I would pick {L} — a safe choice.", "4"),
    # gpt-oss abcd_grader / openbench MCQ_PATTERNS
    (GPT_OSS, "**Answer:** {L}", "4"),
    (GPT_OSS, "*Answers* – {L}", "4"),
    (GPT_OSS, "Answer: ({L})", "4 10"),
    (GPT_OSS, "Answers – {L}", "4"),
    (GPT_OSS, "Option {L}", "4"),
    (GPT_OSS, "Choice: {L}", "4"),
    (GPT_OSS, "\\boxed{{L}}", "4 10"),
    (GPT_OSS, "$$\\boxed{\\text{{L} } {T}}$$", "4"),
    (GPT_OSS, "\\boxed{\\textbf{{L}}}", "4"),
    (GPT_OSS, "({L})", "4"),
    (GPT_OSS, "[{L}]", "4"),
    (GPT_OSS, "**{L}**", "4"),
    (GPT_OSS, "\\textbf{{L}}", "4"),
    (GPT_OSS, "**{L}) {T}**", "4"),
    (GPT_OSS, "{L}.", "4"),
    (OPENBENCH, "Final answer - {L}", "4"),
    ("https://github.com/groq/openbench/issues/348",
     "The calculated answer is 11.\n\nAnswer seems to be {L}.\n\nAnswer: {L}", "4"),
    # NVIDIA NeMo-Skills
    ("https://github.com/NVIDIA-NeMo/Skills/pull/1526",
     "The regime is $\\boxed{\\langle H\\rangle \\ll \\Delta E}$, which fixes the choice.\n\n**Answer: {L}**", "4"),
    ("https://github.com/NVIDIA-NeMo/Skills/pull/944", "Final answer: \\boxed{{L}}", "4 10"),
    # inspect_ai
    ("https://github.com/UKGovernmentBEIS/inspect_ai/issues/5055", "ANSWER: **{L}**", "4"),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/issues/5055", "ANSWER: ${L}$", "4"),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/pull/3910", "ANSWER: {l}", "4"),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/pull/3910",
     "Answer: this asks which option matches the definition\n...\nANSWER: {L}", "4"),
    # other issue threads
    ("https://github.com/openai/frontier-evals/issues/125",
     "Answer: {W}\nAfter checking the reasoning, I need to correct this.\nAnswer: {L}", "4"),
    ("https://github.com/jundot/omlx/pull/3668", "The answer is {L}. Note that {W} is a common distractor.", "4 10"),
    ("https://github.com/jundot/omlx/pull/3668", "ANSWER IS {L}. {W} is incorrect.", "4"),
    ("https://github.com/jundot/omlx/pull/3668", "The answer is {L} because I computed the integral.", "10"),
    ("https://github.com/antirez/ds4/issues/321", "Answer: It is not {W}, the answer is {L}", "4"),
    ("https://github.com/antirez/ds4/issues/321", "Answer: rules out {W}, leaving {L}", "4"),
    ("https://github.com/antirez/ds4/issues/321", "Answer: I think it is {L}", "4 10"),
    ("https://github.com/IBM/AssetOpsBench/pull/477", "After comparing the options, the answer is {L}.", "4"),
    ("https://github.com/IBM/AssetOpsBench/pull/477",
     "The evidence points the same way in every check.\n\n{L}", "4"),
    ("https://github.com/aniri15/OPD-V/issues/2", "Answer: **{L}**", "4"),
    ("https://github.com/aniri15/OPD-V/issues/2", "I considered ({W}), but it is incorrect. Final answer: {L}.", "4"),
    ("https://github.com/aniri15/OPD-V/issues/2", "The correct answer is {l}.", "4"),
    ("https://github.com/stanford-crfm/helm/pull/4323", "The answer: {L}", "4 10"),
    ("https://github.com/stanford-crfm/helm/pull/4323", "...Answer: {L}", "10"),
    ("https://github.com/stanford-crfm/helm/pull/4323", "[answer: {L}]", "10"),
    ("https://github.com/jungao1106/ICoT/issues/10", "Comparing everything, ({W}) fails and ({L}) holds.\n\n({L})", "4"),
    # OpenCompass first_option_postprocess / ai-twinkle (Chinese)
    ("https://github.com/open-compass/opencompass/pull/1688", "答案是{L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "答案是：{L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "答案选项应该是{L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "答案应该选{L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "答案为{L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "选择{L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "综上所述，故选{L}。", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "{L}是正确的", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "{L}是正确答案。", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "选项{L}正确", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "所以答{L}", "4"),
    ("https://github.com/ai-twinkle/Eval/issues/156", "我認為應該選 {L}", "4"),
    ("https://github.com/ai-twinkle/Eval/issues/156", "選 {L}", "4"),
    ("https://github.com/ai-twinkle/Eval/issues/156", "我選擇 {L}", "4"),
    ("https://github.com/ai-twinkle/Eval/issues/156", "故選 {L}。", "4"),
    ("https://github.com/ai-twinkle/Eval/issues/156", "應選 ({L})", "4"),
    ("https://github.com/ai-twinkle/Eval/issues/156", "正確答案為 {L}", "4"),
    # the forms of r1eval issue 11 class 7, each seen in the threads above
    (SIMPLE, 'Answer: "{L}"', "4"),
    (OPENBENCH, "Therefore, weighing every constraint, the option that fits: {L}", "4"),
    ("https://github.com/open-compass/opencompass/pull/1688", "({L}) is correct", "4"),
    (LIGHTEVAL_ML, "La réponse est ({L})", "4"),
    (LIGHTEVAL_ML, "La bonne réponse est {L}.", "4"),
    (SIMPLE_ML, "La respuesta correcta es ({L}).", "4"),
    (SIMPLE_ML, "Die richtige Antwort ist {L}.", "4"),
    (LIGHTEVAL_RE, "Thus, the correct option is {L}.", "4 10"),
    (SIMPLE_NORM, "**Answer: {L}**", "4"),
    (SIMPLE_NORM, "The final answer is $\\boxed{\\text{({L})}}$", "4"),
    (SIMPLE, "Answer: {T}", "4"),  # the choice's text instead of its letter
    (SIMPLE, "**Final Answer**\n\n{T}", "4"),
    # R1-style answer sections after </think>
    (OPENR1, "<answer>\n{L}\n</answer>", "4 10"),
    (OPENR1, "<answer>\nThe answer is \\boxed{{L}}\n</answer>", "4"),
    (LIGHTEVAL_RE, "**Final Answer**\n\\boxed{{L}}", "4 10"),
    (LIGHTEVAL_RE, "### Final Answer\nThe answer is $\\boxed{{L}}$.", "4"),
    ("https://github.com/NVIDIA-NeMo/Skills/pull/1526",
     "To summarize:\n- {W} fails the first check.\n- {V} contradicts the data.\n- {L} fits.\n\n**Answer: {L}**", "4"),
    (GPT_OSS, "The correct answer is **{L}**.", "4"),
    (OPENBENCH, "**Option {L}** is correct.", "4"),
    (OPENBENCH, "- **Option {W}**: incorrect.\n- **Option {L}**: correct.", "4"),
    (LM_4188, "The best fit is therefore {L}.", "4"),
    (LM_GPQA, "Thus the most plausible choice is ({L}).", "4"),
    (LM_GPQA, "Analysis:\n{W}) {TW} - no\n{L}) {T} - yes\n\nTherefore: {L}", "4"),
    (SIMPLE, "Answer: {L}\n\nExplanation: {W} is a common distractor because it ignores a basic fact.", "4"),
    ("https://github.com/jundot/omlx/pull/3668", "Answer: {L}\n\nNote: ({W}) is a common mistake.", "4"),
]

# hand-written adversarial cases: (source, think, answer text, stated letter or None, kind)
# "{G}" is the gold letter, "{W}" another letter; expected None means the reply states no answer.
ADVERSARIAL: list[tuple[str, str, str, str | None]] = [
    (LM_GPQA_R, "Checking the options, the answer is {G}.", "I could not settle on one option.", None),
    (LM_GPQA_R, "Answer: {G}", "", None),
    (LM_GPQA_R, "I am fairly sure it is ({G}).", "Let me restate the question before answering it.", None),
    ("https://github.com/vllm-project/tpu-inference/pull/3518",
     "The answer is {G}.", "Because the options overlap, no single letter can be defended.", None),
    ("https://github.com/vllm-project/tpu-inference/pull/3518",
     "Answer: {W}. Hmm, no.", "The answer is {G}.", "{G}"),
    ("https://github.com/vllm-project/tpu-inference/pull/3518",
     "Answer: {G}. Hmm, no.", "The answer is {W}.", "{W}"),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/pull/3910", "Both seem plausible.",
     "The answer is either {G} or {W}.", None),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/pull/3910", "Two options fit.", "ANSWER: {G}, {W}", None),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/pull/3910", "Hard to separate them.", "Answer: {G}/{W}", None),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/pull/3910", "They look alike.",
     "Answer: {G} or {W}, depending on the convention.", None),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/issues/2216", "None of these works.", "ANSWER: None of the above",
     None),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/issues/2216", "I am unsure.", "ANSWER: Don't know", None),
    ("https://github.com/UKGovernmentBEIS/inspect_ai/issues/2216", "I am unsure.", "ANSWER: I don't know", None),
    (LM_4188, "The definition decides it.", "Answer: A detailed look at each definition is needed first.", None),
    (LM_4188, "Let me compare.", "The answer is a matter of definition here.", None),
    (LM_4188, "Options differ in one detail.", "The answer is {G} because a car moves.", "{G}"),
    ("https://github.com/jundot/omlx/pull/3668", "It takes an integral.",
     "The answer is {G} because I computed the integral.", "{G}"),
    ("https://github.com/antirez/ds4/issues/321", "The distractor is tempting.", "The answer is not {W}.", None),
    ("https://github.com/antirez/ds4/issues/321", "Tricky.", "Answer: I am not sure yet.", None),
    ("https://github.com/MMMU-Benchmark/MMMU/issues/41", "Nothing in the question decides it.",
     "The question does not give enough information to decide.", None),
    ("https://github.com/NVIDIA-NeMo/Skills/pull/1526", "Energy scales matter.",
     "In this limit $\\boxed{E \\gg kT}$, so thermal effects vanish.", None),
    ("https://github.com/groq/openbench/issues/348", "Calculations give 11.",
     "I first thought {W}, but the units rule it out.\n\nAnswer: {G}", "{G}"),
    ("https://github.com/groq/openbench/issues/348", "Calculations give 11.",
     "I first thought {G}, but the units rule it out.\n\nAnswer: {W}", "{W}"),
    (LM_GPQA, "Weighing the evidence.", "I considered ({W}) and ({G}) but cannot decide between them.", None),
    (LM_GPQA, "Compare.", "Option {W} was my first instinct; the second look favours something else entirely.",
     None),
    (GPT_OSS, "Let me explain.", "Because the field vanishes inside a conductor, the charge sits on its surface.",
     None),
    (GPT_OSS, "Think.", "Each of the four statements was checked against the definition.", None),
    (LIGHTEVAL, "The letters are A, B, C and D.", "The answer is for sure {G}, it can't be {W}", "{G}"),
    ("https://github.com/openai/frontier-evals/issues/125", "Check twice.",
     "Answer: {G}\nAfter checking the reasoning, I need to correct this.\nAnswer: {W}", "{W}"),
    (LM_GPQA, "Go through them.", "Analysis:\n{W}) - no\n{G}) - maybe\n", None),  # a listing, no choice stated
    (LM_4188, "Both fit.", "I'm not sure; it could be {G} or {W}.", None),
    (LM_4188, "Both fit.", "Both {G} and {W} are plausible.", None),
    (OPENR1, "The answer is {G}.", "<answer>\n\n</answer>", None),
]
UNCLOSED = [  # the reasoning never closed: nothing counts, whatever it says
    (LM_GPQA_R, "<think>\nLet me see. Option {W} is out. The answer is {G}.\n\nAnswer: {G}"),
    (LM_GPQA_R, "<think>\nWorking through it: \\boxed{{G}}"),
    (LM_GPQA_R, "<think>\nThe answer is ({G}). Wait, let me double check the second option"),
]

REASONING = [
    "Okay, the question asks: {q}\nLet me go through the options one by one. Option {W} ({TW}) does not fit. "
    "{V}) {TV} is also unlikely. {S}) {TS} matches what I know.\nSo the answer should be {S}.",
    "Hmm. {q}\nMy first instinct is {W}, but that ignores a basic fact, so not {W}. "
    "Checking {TS} against the question: consistent. Answer: {S}? Yes.",
    "Recall the relevant fact.\n{choices}\nThat points to {S}.",
    "",
    "Let me think about this carefully. A quick recall: the right value is {TS}. "
    "I should not be misled by option {W}.",
    "First, restate: {q} Options {W} and {V} can be eliminated immediately. The answer is {S}.",
]

_ARABIC, _BENGALI = "أبجد", "অবডঢ"


def _fill(template: str, letters: dict[str, str], texts: dict[str, str]) -> str:
    out = template
    for key, value in {**letters, **texts}.items():
        out = out.replace("{" + key + "}", value)
    return out


def _letters(rng: random.Random, n: int, stated: int) -> dict[str, str]:
    others = [j for j in range(n) if j != stated]
    w, v = rng.sample(others, 2)
    return {"L": LETTERS[stated], "l": LETTERS[stated].lower(), "W": LETTERS[w], "V": LETTERS[v],
            "FW": chr(0xFF21 + stated), "AR": _ARABIC[stated] if stated < 4 else "",
            "BN": _BENGALI[stated] if stated < 4 else ""}


def _think(rng: random.Random, q: str, choices: list[str], think_letter: int, letters: dict[str, str]) -> str:
    template = rng.choice(REASONING)
    return _fill(template, {"S": LETTERS[think_letter], "W": letters["W"], "V": letters["V"]},
                 {"q": q, "TS": choices[think_letter], "TW": choices[LETTERS.index(letters["W"])],
                  "TV": choices[LETTERS.index(letters["V"])],
                  "choices": "\n".join(f"{LETTERS[j]}) {c}" for j, c in enumerate(choices))})


def _opening(rng: random.Random) -> str:
    """How the reply opens: a forced `<think>` (only its end is in the completion) or the whole tag."""
    return rng.choice(["<think>\n", "<think>\n", ""])


def build() -> tuple[list[dict], list[dict]]:
    rng = random.Random(20250611)
    questions = [{"id": f"q{i:02d}", "question": q + "\n\n" + "\n".join(f"{LETTERS[j]}) {c}" for j, c in enumerate(ch)),
                  "answer": LETTERS[g]} for i, (q, ch, g) in enumerate(QUESTIONS_4)]
    cases: list[dict] = []

    def add(source: str, qid: str | None, choices: list[str], gold: int, completion: str, stated: int | None,
            **extra: object) -> None:
        cases.append({"id": f"mcq-{len(cases):04d}", "source": source, "question_id": qid, "choices": choices,
                      "gold": LETTERS[gold], "completion": completion,
                      "expected": None if stated is None else LETTERS[stated],
                      "label": stated == gold, **extra})

    for source, template, kinds in FORMS:
        for size in kinds.split():
            pool = QUESTIONS_4 if size == "4" else QUESTIONS_10
            variants = [True, True, False] if size == "4" else [True, False]
            for right in variants:
                qi = rng.randrange(len(pool))
                q, choices, gold = pool[qi]
                stated = gold if right else rng.choice([j for j in range(len(choices)) if j != gold])
                if "{AR}" in template or "{BN}" in template:
                    stated = gold if right or gold >= 4 else (gold + 1) % 4
                    if gold >= 4:
                        continue
                letters = _letters(rng, len(choices), stated)
                think_letter = rng.choice([stated, stated, gold, LETTERS.index(letters["W"])])
                answer = _fill(template, letters, {"T": choices[stated], "TW": choices[LETTERS.index(letters["W"])]})
                completion = (_opening(rng) + _think(rng, q, choices, think_letter, letters) + "\n</think>\n\n"
                              + answer)
                add(source, f"q{qi:02d}" if size == "4" else None, choices, gold, completion, stated)
    for source, think, answer, stated_key in ADVERSARIAL:
        for _ in range(2):
            qi = rng.randrange(len(QUESTIONS_4))
            q, choices, gold = QUESTIONS_4[qi]
            other = rng.choice([j for j in range(4) if j != gold])
            fill = {"G": LETTERS[gold], "W": LETTERS[other]}
            stated = None if stated_key is None else LETTERS.index(_fill(stated_key, fill, {}))
            completion = _opening(rng) + _fill(think, fill, {}) + "\n</think>\n\n" + _fill(answer, fill, {})
            add(source, f"q{qi:02d}", choices, gold, completion, stated)
    for source, text in UNCLOSED:
        for _ in range(2):
            qi = rng.randrange(len(QUESTIONS_4))
            q, choices, gold = QUESTIONS_4[qi]
            other = rng.choice([j for j in range(4) if j != gold])
            add(source, f"q{qi:02d}", choices, gold, _fill(text, {"G": LETTERS[gold], "W": LETTERS[other]}, {}), None)
    return cases, questions


def main() -> None:
    cases, questions = build()
    (HERE / "mcq.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases),
                                    encoding="utf-8")
    (HERE / "mcq_questions.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions),
                                              encoding="utf-8")
    print(f"{len(cases)} cases, {len(questions)} questions")


if __name__ == "__main__":
    main()
