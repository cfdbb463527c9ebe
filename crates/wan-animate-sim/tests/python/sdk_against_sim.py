"""The official DashScope Python SDK, unchanged, against the wan-animate simulator.

Env: DASHSCOPE_HTTP_BASE_URL and DASHSCOPE_API_KEY point at the simulator; SAMPLES is the
directory holding person.jpg and dance.mp4. Exits non-zero with a message on any mismatch.
"""
import os
import sys
import time

import dashscope  # reads DASHSCOPE_HTTP_BASE_URL at import
from dashscope.client.base_api import BaseAsyncApi
from dashscope.utils.oss_utils import OssUtils

MODEL = "wan2.2-animate-mix"
SAMPLES = os.environ["SAMPLES"]
KEY = os.environ["DASHSCOPE_API_KEY"]


def check(cond, what, detail=""):
    if not cond:
        print(f"FAIL: {what}: {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def upload(name):
    result = OssUtils.upload(model=MODEL, file_path=os.path.join(SAMPLES, name), api_key=KEY)
    url = result[0] if isinstance(result, tuple) else result
    check(isinstance(url, str) and url.startswith("oss://"), f"SDK temporary upload of {name}", result)
    return url


def create(image, video):
    rsp = BaseAsyncApi.async_call(
        model=MODEL,
        input={"image_url": image, "video_url": video},
        task_group="aigc",
        task="image2video",
        function="video-synthesis",
        api_key=KEY,
        mode="wan-std",
        headers={"X-DashScope-OssResourceResolve": "enable"},
    )
    check(rsp.status_code == 200, "async_call creates a task", rsp)
    check(rsp.output["task_status"] == "PENDING", "the new task is PENDING", rsp.output)
    return rsp


image = upload("person.jpg")
video = upload("dance.mp4")

first = create(image, video)
task_id = first.output["task_id"]
fetched = BaseAsyncApi.fetch(task_id, api_key=KEY)
check(fetched.status_code == 200 and fetched.output["task_id"] == task_id, "fetch", fetched)

# A second task queues behind the first (one running task per model): cancel it while PENDING.
second = create(image, video)
canceled = BaseAsyncApi.cancel(second.output["task_id"], api_key=KEY)
check(canceled.status_code == 200, "cancel a PENDING task", canceled)
after = BaseAsyncApi.fetch(second.output["task_id"], api_key=KEY)
check(after.output["task_status"] == "CANCELED", "the canceled task reads CANCELED", after.output)

done = BaseAsyncApi.wait(first, api_key=KEY)
check(done.status_code == 200, "wait", done)
check(done.output["task_status"] == "SUCCEEDED", "the task succeeded", done.output)
check(done.output["results"]["video_url"].startswith("http"), "a result URL", done.output)
check(done.usage["video_duration"] == 3.0, "usage.video_duration", done.usage)

listed = BaseAsyncApi.list(model_name=MODEL, api_key=KEY)
check(listed.status_code == 200, "list", listed)
ids = [t["task_id"] for t in listed.output["data"]]
check(task_id in ids and second.output["task_id"] in ids, "list shows both tasks", ids)
print("python SDK: all calls succeeded against the simulator")
