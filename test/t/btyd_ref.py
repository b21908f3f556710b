#!/usr/bin/python3
"""btyd_ref.py - an independent numpy/scipy implementation of the BG/NBD and
Gamma-Gamma formulas, used to check segkpi (test/t/005_btyd_scipy.pl) and
as the baseline of test/bench/btyd.sh.

Written from the papers' formulas (Fader, Hardie & Lee 2005; Fader & Hardie,
"The Gamma-Gamma Model of Monetary Value"), vectorised over customers the
way the Python `lifetimes` package evaluates them: one row per customer, no
compression, scipy.optimize.minimize over the logarithms of the parameters.

Usage:
  btyd_ref.py fit    FILE      FILE: lines "x t_x T zbar"; prints both fits
  btyd_ref.py predict FILE     FILE: first line "r alpha a b p q gamma", then
                               lines "x t_x T zbar t horizon rate step";
                               prints "p_alive expected spend clv" per line
"""
import sys

import numpy as np
from scipy import optimize, special


def bgnbd_negll(logp, x, tx, T, w=None):
    r, alpha, a, b = np.exp(logp)
    ln_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    ln_a2 = (special.gammaln(a + b) + special.gammaln(b + x)
             - special.gammaln(b) - special.gammaln(a + b + x))
    ln_a3 = -(r + x) * np.log(alpha + T)
    pos = x > 0
    ln_a4 = np.full_like(ln_a3, -np.inf)
    ln_a4[pos] = (np.log(a) - np.log(b + x[pos] - 1)
                  - (r + x[pos]) * np.log(alpha + tx[pos]))
    ll = ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)
    if w is not None:
        ll = ll * w
    return -ll.sum()


def gg_negll(logp, x, z):
    p, q, g = np.exp(logp)
    px = p * x
    ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
          + q * np.log(g) + (px - 1) * np.log(z) + px * np.log(x)
          - (px + q) * np.log(g + x * z))
    return -ll.sum()


def fit(fn, start, args, method):
    opts = {"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-10} if method == "Nelder-Mead" \
        else {"maxiter": 2000, "gtol": 1e-10}
    res = optimize.minimize(fn, start, args=args, method=method, options=opts)
    return np.exp(res.x), -res.fun, res


def fit_bgnbd(x, tx, T, method="Nelder-Mead"):
    return fit(bgnbd_negll, np.zeros(4), (x, tx, T), method)


def fit_gg(x, z, method="Nelder-Mead"):
    pos = x > 0
    return fit(gg_negll, np.zeros(3), (x[pos], z[pos]), method)


def p_alive(m, x, tx, T):
    r, alpha, a, b = m
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))


def expected(m, t, x, tx, T):
    r, alpha, a, b = m
    if t == 0:
        return 0.0
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    den = 1 + (a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x) if x > 0 else 0)
    return head * tail / den


def expected_new(m, t):
    r, alpha, a, b = m
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r
                                    * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))


def spend(g, x, z):
    p, q, gamma = g
    return (gamma + x * z) * p / (p * x + q - 1)


def clv(m, g, x, tx, T, z, horizon, rate, step):
    steps = int(np.ceil(horizon / step))
    total, prev = 0.0, 0.0
    for i in range(1, steps + 1):
        ti = horizon if i == steps else i * step
        e = expected(m, ti, x, tx, T) if T > 0 else expected_new(m, ti)
        total += (e - prev) * spend(g, x, z) / (1 + rate) ** (ti / step)
        prev = e
    return total


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "fit":
        d = np.loadtxt(path, ndmin=2)
        x, tx, T, z = d[:, 0], d[:, 1], d[:, 2], d[:, 3]
        bg, ll, _ = fit_bgnbd(x, tx, T)
        # polish with a gradient method from the simplex optimum
        res = optimize.minimize(bgnbd_negll, np.log(bg), args=(x, tx, T), method="BFGS",
                                options={"gtol": 1e-9})
        bg, ll = np.exp(res.x), -res.fun
        # Gamma-Gamma: the all-ones start can run off to a poor optimum;
        # keep the best of three starts, each polished with BFGS
        pos = x > 0
        best = None
        for start in (np.zeros(3), np.log([5.0, 5.0, 10.0]), np.log([1.0, 2.0, np.mean(z[pos])])):
            res = optimize.minimize(gg_negll, start, args=(x[pos], z[pos]), method="Nelder-Mead",
                                    options={"maxiter": 20000, "xatol": 1e-10, "fatol": 1e-10})
            res = optimize.minimize(gg_negll, res.x, args=(x[pos], z[pos]), method="BFGS",
                                    options={"gtol": 1e-9})
            if best is None or res.fun < best.fun:
                best = res
        gg, gll = np.exp(best.x), -best.fun
        print("%.12g %.12g %.12g %.12g %.12g" % (bg[0], bg[1], bg[2], bg[3], ll))
        print("%.12g %.12g %.12g %.12g" % (gg[0], gg[1], gg[2], gll))
    elif mode == "predict":
        with open(path) as f:
            head = [float(v) for v in f.readline().split()]
            m, g = head[:4], head[4:7]
            for line in f:
                x, tx, T, z, t, horizon, rate, step = [float(v) for v in line.split()]
                pa = p_alive(m, x, tx, T) if T > 0 else 1.0
                e = expected(m, t, x, tx, T) if T > 0 else expected_new(m, t)
                print("%.15g %.15g %.15g %.15g" % (pa, e, spend(g, x, z),
                                                   clv(m, g, x, tx, T, z, horizon, rate, step)))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
