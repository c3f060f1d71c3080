"""Statistical models of preference judgments.

* :mod:`prefqa.models.bradley_terry` -- Bradley-Terry scores of models or
  responses, with ties, covariates (style control) and confidence intervals.
* :mod:`prefqa.models.mixed` -- logistic and Gaussian models with crossed
  random effects (annotators, prompts).

Nothing is imported here, so that ``import prefqa.models`` stays cheap.
"""
