# Exercise 08-serve-the-export: serve another model from its ONNX export, without its framework.
#
# Lesson 08 exported the classifier to ONNX in a build stage and shipped ONNX Runtime instead of
# torch. The ticket router (exercises/transfer-app/: read README.md, serve.py and export_onnx.py)
# is a scikit-learn model: as exercise 06 baked it, its runtime carried scikit-learn and SciPy to
# unpickle one small file. Below are that image's builder and train stages, and a runtime stage
# that has not yet received a venv or a model.
# Goal: `import sklearn` fails in the image; it serves POST /route from the router's ONNX
# export, written by export_onnx.py in a build stage, and routes messages as the trained model
# does.
#
# Checked from the repository root by `python -m workshop check 08-serve-the-export`: it
# builds this file with exercises/transfer-app/ as the build context, tries `import sklearn` in
# the image, reads MODEL_PATH, serves the router and routes three messages. Build it yourself with:
# docker build $BUILD_FLAGS -f exercises/08-serve-the-export.Dockerfile -t ticket-router:onnx exercises/transfer-app
# Stuck? The hints are in exercises/README.md.

FROM python:3.11-slim-bookworm AS builder
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# Train: the builder's venv, the training script and its data; writes /model/router.joblib.
FROM builder AS train
COPY train.py .
COPY data/ data/
RUN mkdir /model && python train.py data/tickets.csv /model/router.joblib

# BEGIN SOLUTION: a stage that exports the trained model; a venv with only what serves the export
# Export: scikit-learn is already here (the train stage's venv); the converter joins it in this
# stage only, and never ships.
FROM train AS export
COPY export-requirements.txt export_onnx.py ./
RUN pip install --no-cache-dir -r export-requirements.txt && \
    python export_onnx.py /model/router.joblib /model/router.onnx

# The runtime's venv, in a stage of its own: what serve.py needs to run the export.
FROM python:3.11-slim-bookworm AS onnx-venv
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
COPY onnx-requirements.txt .
RUN pip install --no-cache-dir -r onnx-requirements.txt
# END SOLUTION

FROM python:3.11-slim-bookworm
# BEGIN SOLUTION: the venv, the exported model, and where serve.py finds it
COPY --from=onnx-venv /opt/venv /opt/venv
COPY --from=export /model/router.onnx /opt/model/router.onnx
# serve.py runs a MODEL_PATH ending in .onnx with ONNX Runtime (read its load()).
ENV MODEL_PATH=/opt/model/router.onnx
# END SOLUTION
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /srv
COPY serve.py .
EXPOSE 8080
CMD ["waitress-serve", "--port=8080", "serve:app"]
