def judge_report(*a, **k): raise NotImplementedError
class JudgeReport: pass
