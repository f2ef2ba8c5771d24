# make demo   install everything into .venv, pretrain on the synthetic dataset, linear-evaluate,
#             then the pretrained encoder beside a random-init one (linear probe and kNN)
# make test   install everything into .venv, run the test suite
# make bench  kernel and training-step benchmarks
# make gpu-check OUT=dir   on a GPU machine, with the python there (no venv, nothing downloaded): build,
#             CUDA tests, compute-sanitizer, GPU benchmarks, short pretraining + kNN -> dir/gpu_check.json, .log
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= runs/demo
OUT    ?= runs/gpu_check

.PHONY: install demo test bench gpu-check clean

$(VENV)/.deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# --no-build-isolation: build against the pinned torch above instead of downloading another
install: $(VENV)/.deps
	$(PY) -m pip install -q --no-build-isolation -e .
	$(PY) -c "import cpstn_min.ops as o; print('cpstn backend (cpu):', o.backend('cpu'))"

demo: install
	$(PY) train.py --out-dir $(DEMO)
	$(PY) eval.py --checkpoint $(DEMO)/checkpoint.pt --protocol linear
	$(PY) experiments/demo_summary.py --checkpoint $(DEMO)/checkpoint.pt

test: install
	$(PY) -m pytest tests -q

bench: install
	$(PY) benchmarks/bench_graph_conv.py
	$(PY) benchmarks/bench_augment.py
	$(PY) benchmarks/bench_train_step.py

gpu-check:
	$(PYTHON) benchmarks/gpu_check.py --out $(OUT)

clean:
	rm -rf build *.egg-info cpstn_min/_C*.so
