# segkpi - PGXS build.
#
#   make && make install     build and install into the server of $(PG_CONFIG)
#   make demo                 throwaway cluster + demo data + RFM summary
#   make dashboard            the demo warehouse's dashboard (doc/dashboard),
#                             built as the dashboard role; prints where to open it
#   make test                 every suite (unit, codegen, fuzz replay,
#                             regression, TAP, dashboard) on PostgreSQL 15,
#                             17 and 18: 15 natively, the others in cached
#                             Debian roots (root needed); last line "N
#                             passed, N failed" summing all of them
#   make test PG=15           the same on the majors listed only; PG=19 is
#                             the release candidate, not in the default matrix
#   make quick                the edit-test loop: unit + regression, no installs
#   make unit | fuzz | bench  one kind only (see README, Development)
#
# The two top commands install missing Debian packages themselves; they are
# scripts under test/ so that they also run where PGXS is not yet present.

EXTENSION  = segkpi
MODULE_big = segkpi

# Sources and regression suites, one block per module (in install order).
CORE_SRCS =
PG_SRCS   = src/pg/status.c src/pg/glue.c
REGRESS   = setup

# RFM
CORE_SRCS += src/core/numdec.c src/core/rank.c src/core/rfmstate.c src/core/custtab.c src/core/rfmscan.c
PG_SRCS   += src/pg/rfm_agg.c src/pg/rfm_score.c src/pg/rfm_cuts.c src/pg/relscan.c src/pg/rfm_scan.c
REGRESS   += rfm_agg rfm_score rfm_cuts rfm_scores rfm_segment rfm_bad_input rfm_parallel

# k-means
CORE_SRCS += src/core/kmeans.c
PG_SRCS   += src/pg/kmeans_model.c src/pg/kmeans_agg.c
REGRESS   += kmeans kmeans_bad_input kmeans_parallel

# BG/NBD, Gamma-Gamma, CLV
CORE_SRCS += src/core/btyd.c
PG_SRCS   += src/pg/btyd_stats.c src/pg/btyd_model.c src/pg/btyd_fit.c
REGRESS   += btyd_stats btyd_fit btyd_bad_input

# KPI pipeline
CORE_SRCS += src/core/activity.c src/core/actscan.c
PG_SRCS   += src/pg/activity.c src/pg/act_scan.c
REGRESS   += activity activities kpi_hand kpi_bad_input kpi_views kpi_demo refresh_stages
REGRESS   += kmeans_stable kmeans_choose rules_behaviour segmentation_roi engagement

OBJS      = src/segkpi.o $(CORE_SRCS:.c=.o) $(PG_SRCS:.c=.o)

# The install script of the current version is built from the editable
# sources in sql/src (one file per concern, concatenated in name order);
# the version is the control file's default_version, its only home.  The
# first release's full script and every upgrade script are installed as
# they are, so any older installation can ALTER EXTENSION ... UPDATE.
# Upgrade scripts from 0.6 on are built too: sql/src/upgrade holds their
# templates, which name the objects that changed, and sql/build-upgrade.pl
# copies those objects' current text out of sql/src (so no function body
# is kept twice by hand).
EXTVERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)
SQL_SRCS    = $(sort $(wildcard sql/src/*.sql))
UPGRADE_SRCS = $(sort $(wildcard sql/src/upgrade/$(EXTENSION)--*--*.sql))
UPGRADE_BUILT = $(patsubst sql/src/upgrade/%,sql/%,$(UPGRADE_SRCS))
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql $(UPGRADE_BUILT)
DATA        = sql/$(EXTENSION)--0.1.sql $(filter-out $(UPGRADE_BUILT),$(sort $(wildcard sql/$(EXTENSION)--*--*.sql)))


# Warnings: PGXS already passes -Wall and friends; we add all of -Wextra.
# The server's own headers are included as system headers (-isystem): some
# of them trip -Wextra themselves (PostgreSQL 15's bufpage.h), and that is
# not ours to fix.  WERROR=-Werror is what the test command uses; a user's
# compiler may warn differently, so plain `make` does not fail on warnings.
WERROR ?=
PG_CPPFLAGS = -I$(srcdir)/src/core -I$(srcdir)/src/pg -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS   = -Wextra -ffp-contract=off $(WERROR)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all:
	@echo "pg_config ($(PG_CONFIG)) or the PostgreSQL server headers are missing;" >&2
	@echo "install postgresql-server-dev-15, or run 'make test' / 'make demo'," >&2
	@echo "which install them" >&2
	@exit 1
endif

sql/$(EXTENSION)--$(EXTVERSION).sql: $(SQL_SRCS)
	@{ printf -- '-- segkpi %s install script, built from sql/src by the Makefile: edit those files.\n\n' '$(EXTVERSION)'; \
	   for f in $(SQL_SRCS); do printf -- '-- ===== %s\n' "$$f"; cat "$$f"; echo; done; } > $@

$(UPGRADE_BUILT): sql/%: sql/src/upgrade/% $(SQL_SRCS) sql/build-upgrade.pl
	@perl sql/build-upgrade.pl $< $(SQL_SRCS) > $@.tmp && mv $@.tmp $@

# PGXS does not track headers; every object depends on all of ours.
$(OBJS): $(wildcard src/core/*.h src/pg/*.h)

.PHONY: demo test quick unit fuzz bench
.PHONY: dashboard

demo:
	@bash test/demo.sh

test:
	@PG="$(PG)" bash test/matrix

dashboard:
	@bash test/dashboard.sh

# Unit tests of src/core, built without any server header.
UNIT_CFLAGS = -std=gnu99 -O2 -g -Wall -Wextra -Werror -ffp-contract=off -Isrc/core -Itest/unit \
              -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_TESTS  = $(patsubst test/unit/%.c,test/unit/bin/%,$(wildcard test/unit/test_*.c))

# The core is compiled once for all unit tests (with the sanitizers), into
# an archive each test program links.
UNIT_CORE_OBJS = $(patsubst src/core/%.c,test/unit/bin/core/%.o,$(CORE_SRCS))

test/unit/bin/core/%.o: src/core/%.c src/core/*.h
	@mkdir -p test/unit/bin/core
	$(CC) $(UNIT_CFLAGS) -c -o $@ $<

test/unit/bin/libcore.a: $(UNIT_CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

test/unit/bin/%: test/unit/%.c test/unit/bin/libcore.a src/core/*.h test/unit/unit.h
	@mkdir -p test/unit/bin
	$(CC) $(UNIT_CFLAGS) -o $@ $< test/unit/bin/libcore.a -lm

unit: $(UNIT_TESTS)
	@bash test/lib/run-unit.sh $(UNIT_TESTS)

# The edit-test loop: build with -Werror, install (into $$SK_PREFIX when
# set), unit tests, then pg_regress on a throwaway cluster.  No package
# installs; needs what `make test` installed once.
quick:
	@bash test/quick.sh

fuzz:
	@bash test/fuzz/run.sh

bench:
	@bash test/bench/run.sh

print-core-srcs:
	@echo $(CORE_SRCS)
