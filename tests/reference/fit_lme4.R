# Reference fits for tests/test_mixed_lme4.py (run from the repo root):
#   python tests/reference/make_fixtures.py && Rscript tests/reference/fit_lme4.R
# Writes tests/reference/lme4_results.json; every entry records the exact lme4 call.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
dir <- "tests/reference"

prep_pref <- function(path) {
  d <- read.csv(file.path(dir, path), stringsAsFactors = FALSE)
  dl <- d$len_a - d$len_b
  d$x <- tanh(dl / sqrt(mean(dl^2)))     # prefqa's length covariate, scale over ALL judgments
  d <- d[d$choice != "tie", ]            # ties = "drop"
  d$y <- as.integer(d$choice == "a")
  models <- sort(unique(c(d$model_a, d$model_b)))
  for (m in models[-1]) {                # +1/-1 quality columns, first model is the reference
    d[[paste0("q_", m)]] <- (d$model_a == m) - (d$model_b == m)
  }
  list(d = d, qcols = paste0("q_", models[-1]))
}

vc <- function(fit) {
  v <- as.data.frame(VarCorr(fit))
  v <- v[is.na(v$var2), ]
  setNames(as.list(v$sdcor), paste(v$grp, v$var1, sep = ":"))
}

summ <- function(fit, call) {
  list(call = call, fixef = as.list(fixef(fit)),
       se = as.list(sqrt(diag(as.matrix(vcov(fit))))), sd = vc(fit),
       loglik = as.numeric(logLik(fit)), n = nobs(fit),
       singular = isSingular(fit), lme4 = as.character(packageVersion("lme4")))
}

out <- list()
p <- prep_pref("glmm_crossed.csv"); d <- p$d
rhs <- paste(c("x", p$qcols), collapse = " + ")
f_unc <- as.formula(paste("y ~", rhs, "+ (1 | annotator_id) + (0 + x | annotator_id) + (1 | prompt_id)"))
f_cor <- as.formula(paste("y ~", rhs, "+ (1 + x | annotator_id) + (1 | prompt_id)"))
call1 <- paste0("glmer(", deparse1(f_unc), ", data = d, family = binomial, nAGQ = 1)")
out$glmm_crossed <- summ(glmer(f_unc, data = d, family = binomial, nAGQ = 1), call1)
call0 <- paste0("glmer(", deparse1(f_unc), ", data = d, family = binomial, nAGQ = 0)")
out$glmm_crossed_nagq0 <- summ(glmer(f_unc, data = d, family = binomial, nAGQ = 0), call0)
callc <- paste0("glmer(", deparse1(f_cor), ", data = d, family = binomial, nAGQ = 1)")
fc <- glmer(f_cor, data = d, family = binomial, nAGQ = 1)
out$glmm_correlated <- summ(fc, callc)
out$glmm_correlated$cor <- attr(VarCorr(fc)$annotator_id, "correlation")[1, 2]

p <- prep_pref("glmm_null.csv"); d <- p$d
f_null <- as.formula(paste("y ~ x +", paste(p$qcols, collapse = " + "),
                           "+ (1 | annotator_id) + (1 | prompt_id)"))
calln <- paste0("glmer(", deparse1(f_null), ", data = d, family = binomial, nAGQ = 1)")
out$glmm_null <- summ(glmer(f_null, data = d, family = binomial, nAGQ = 1), calln)

r <- read.csv(file.path(dir, "lmm_ratings.csv"), stringsAsFactors = FALSE)
callr <- "lmer(score ~ 1 + (1 | annotator_id) + (1 | response_id), data = r, REML = TRUE)"
out$lmm_ratings <- summ(lmer(score ~ 1 + (1 | annotator_id) + (1 | response_id), data = r, REML = TRUE), callr)
callm <- "lmer(score ~ 1 + (1 | annotator_id) + (1 | response_id), data = r, REML = FALSE)"
out$lmm_ratings_ml <- summ(lmer(score ~ 1 + (1 | annotator_id) + (1 | response_id), data = r, REML = FALSE), callm)
r <- read.csv(file.path(dir, "lmm_ratings_null.csv"), stringsAsFactors = FALSE)
out$lmm_ratings_null <- summ(lmer(score ~ 1 + (1 | annotator_id) + (1 | response_id), data = r, REML = TRUE),
                             "lmer(score ~ 1 + (1 | annotator_id) + (1 | response_id), data = r, REML = TRUE)")

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(dir, "lme4_results.json"))
cat("wrote", file.path(dir, "lme4_results.json"), "\n")
