.PHONY: setup demo test ui bench
setup:
	scripts/setup.sh
demo:
	scripts/demo.sh
test:
	scripts/test.sh
ui:
	.venv/bin/video-timeline ui
