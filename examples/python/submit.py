"""Submits resize and train to the Python worker and prints what happened.

    AURORA_PASSWORD=... python examples/python/submit.py
"""
import os

from aurora_sdk import Client, Graph, plain

c = Client(os.environ.get("AURORA_URL", "http://127.0.0.1:4332"))
c.login("admin", os.environ["AURORA_PASSWORD"])
graph = (
    Graph("py demo", label_selector={"lang": "py"})
    .task("thumb", "resize", "a.png", 640)
    .task("model", "train", 4)
    .edge("thumb", "model")
)
run_id = c.submit(graph)
for event in c.watch(run_id):
    if event["type"] == "TaskProgress":
        print("progress", event["data"]["fraction"], event["data"].get("message"))
run = c.graph(run_id)
print(run["state"], {t["key"]: plain(t["results"]) for t in run["tasks"]})
