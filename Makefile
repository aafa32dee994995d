.PHONY: setup demo test ui ui-check bench mutation
setup:
	scripts/setup.sh
demo:
	scripts/demo.sh
test:
	scripts/test.sh
ui:
	.venv/bin/video-timeline ui
# Real-browser check of the UI (about a minute): screenshots of a materialized timeline in out/ui_check/.
ui-check: setup
	command -v chromium >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	.venv/bin/python -m scripts.ui_check --out out/ui_check
# Every benchmark figure (minutes, not part of the test run): BENCHMARKS.md, README table, bench/results/*.json.
bench: setup
	.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[bench]"
	.venv/bin/python -m bench.run_all
# Deliberate breakages of the central promises (support/mutation.py): each must make its guarding tests fail
# (about 3 minutes on 2 cores; not part of make test).
mutation: setup
	.venv/bin/python -m scripts.mutation
