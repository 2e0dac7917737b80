# One image for the api and the worker (docker-compose.yml picks the command).
FROM python:3.11-slim
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
COPY constraints.txt pyproject.toml README.md ./
COPY api api
COPY bot bot
COPY cli cli
COPY core core
COPY recommender recommender
COPY worker worker
COPY frontend frontend
# The CPU build of torch: the default one brings several GB of CUDA libraries.
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
RUN pip install $TORCH_PIP_ARGS -c constraints.txt torch && pip install -c constraints.txt .
EXPOSE 8000
CMD ["findimage", "serve", "--host", "0.0.0.0"]
