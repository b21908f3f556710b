#!/usr/bin/python3
"""btyd_baseline.py FILE - the baseline of test/bench/btyd.sh: BG/NBD and
Gamma-Gamma fitted the way the Python `lifetimes` package fits them (one
vectorised numpy row per customer, scipy.optimize.minimize with
Nelder-Mead over log-parameters, tol 1e-7), using the likelihoods of
test/t/btyd_ref.py.  FILE: lines "x t_x T zbar".  Prints the fit time in ms
(loading excluded) and the estimates."""
import os
import sys
import time

import numpy as np
from scipy import optimize

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "t"))
import btyd_ref  # noqa: E402

d = np.loadtxt(sys.argv[1], ndmin=2)
x, tx, T, z = d[:, 0], d[:, 1], d[:, 2], d[:, 3]
t0 = time.perf_counter()
bg = optimize.minimize(btyd_ref.bgnbd_negll, np.zeros(4), args=(x, tx, T),
                       method="Nelder-Mead", tol=1e-7, options={"maxiter": 4000})
pos = x > 0
gg = optimize.minimize(btyd_ref.gg_negll, np.zeros(3), args=(x[pos], z[pos]),
                       method="Nelder-Mead", tol=1e-7, options={"maxiter": 4000})
ms = (time.perf_counter() - t0) * 1000
print("%.0f" % ms)
print("bgnbd r=%.6g alpha=%.6g a=%.6g b=%.6g ll=%.10g evals=%d" % (*np.exp(bg.x), -bg.fun, bg.nfev))
print("gammagamma p=%.6g q=%.6g gamma=%.6g ll=%.10g evals=%d" % (*np.exp(gg.x), -gg.fun, gg.nfev))
