"""Label Studio through its SDK, for tests/annotate/test_label_studio_server.py; runs in .venv-ls.

label-studio-sdk lives in Label Studio's own venv (`make ls-venv`), whose pins clash with
TensorFlow's, so the test runs this script with .venv-ls/bin/python, one step per call:

    python tests/ls_client.py STEP request.json      # the answer: JSON on stdout

    setup     {url, token, title, label_config, tasks, storage}
              -> {project, tasks: [{id, data, predictions: [{model_version, score, result}]}]}
    annotate  {url, token, answers: [{task, label, from_name, to_name}]}  -> {annotations: [id, ...]}
    export    {url, token, project, out}  -> {tasks: n}; out is the project's JSON export
    connect   {url, token, project, backend}  -> {ml, state}: the ML backend at `backend` connected,
              "Use predictions to prelabel tasks" on
    open      {url, token, tasks: [id, ...]}  -> {tasks: [{id, data, predictions}]}: each task read as the
              labelling screen reads it (GET /api/tasks/<id>/), which asks the backend when it has no prediction
    retrieve  {url, token, project}  -> {tasks: [...]}: the Data Manager's "Retrieve predictions" on every
              task, then every task with its predictions

`storage` is the folder the images are in, below LOCAL_FILES_DOCUMENT_ROOT: Label Studio
serves a local file only to a project with a local-files storage that contains it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from label_studio_sdk import LabelStudio


def client(request: dict) -> LabelStudio:
    return LabelStudio(base_url=request["url"], api_key=request["token"])


def setup(request: dict) -> dict:
    ls = client(request)
    config = Path(request["label_config"]).read_text(encoding="utf-8")
    project = ls.projects.create(title=request["title"], label_config=config)
    # not synced: the tasks come from the import below; the storage only lets the project see the images
    ls.import_storage.local.create(project=project.id, path=request["storage"], title="images", use_blob_urls=False)
    tasks = json.loads(Path(request["tasks"]).read_text(encoding="utf-8"))
    ls.projects.import_tasks(project.id, request=tasks, commit_to_project=True)
    read_back = []
    for task in ls.tasks.list(project=project.id):
        predictions = ls.predictions.list(task=task.id)
        read_back.append(
            {
                "id": task.id,
                "data": task.data,
                "predictions": [
                    {"model_version": p.model_version, "score": p.score, "result": p.result} for p in predictions
                ],
            }
        )
    return {"project": project.id, "tasks": read_back}


def annotate(request: dict) -> dict:
    ls = client(request)
    done = []
    for answer in request["answers"]:
        result = {
            "type": "choices",
            "from_name": answer["from_name"],
            "to_name": answer["to_name"],
            "value": {"choices": [answer["label"]]},
        }
        done.append(ls.annotations.create(answer["task"], result=[result], was_cancelled=False).id)
    return {"annotations": done}


def export(request: dict) -> dict:
    ls = client(request)
    # GET /api/projects/<id>/export?exportType=JSON: every task, annotated or not, in Label Studio's JSON format
    data = b"".join(ls.projects.exports.download_sync(request["project"], export_type="JSON", download_all_tasks=True))
    Path(request["out"]).write_bytes(data)
    return {"tasks": len(json.loads(data))}


def connect(request: dict) -> dict:
    ls = client(request)
    ml = ls.ml.create(url=request["backend"], project=request["project"], title="fashioncat", is_interactive=False)
    ls.projects.update(request["project"], evaluate_predictions_automatically=True)
    return {"ml": ml.id, "state": str(ls.ml.get(ml.id).state)}


def _with_predictions(ls: LabelStudio, task) -> dict:
    predictions = ls.predictions.list(task=task.id)
    return {
        "id": task.id,
        "data": task.data,
        "predictions": [{"model_version": p.model_version, "score": p.score, "result": p.result} for p in predictions],
    }


def open_tasks(request: dict) -> dict:
    ls = client(request)
    return {"tasks": [_with_predictions(ls, ls.tasks.get(str(i))) for i in request["tasks"]]}


def retrieve(request: dict) -> dict:
    ls = client(request)
    ls.actions.create(id="retrieve_tasks_predictions", project=request["project"], selected_items={"all": True})
    return {"tasks": [_with_predictions(ls, t) for t in ls.tasks.list(project=request["project"])]}


STEPS = {
    "setup": setup,
    "annotate": annotate,
    "export": export,
    "connect": connect,
    "open": open_tasks,
    "retrieve": retrieve,
}

if __name__ == "__main__":
    step, request_file = sys.argv[1:3]
    print(json.dumps(STEPS[step](json.loads(Path(request_file).read_text(encoding="utf-8")))))
