"""LLM judges as a measured grader: SimpleQA, a second opinion behind the rule graders, rejection sampling
with a judge, and `r1eval judge calibrate` (docs/judge.md)."""
