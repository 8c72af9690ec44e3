"""``stenod web``: captions and the transcript in a browser, bridged from the ZeroMQ bus.

``auth`` (the access token), ``state`` (what the server knows of the session; pure), ``bridge``
(the subscriber thread and the browsers' queues), ``app`` (the aiohttp routes) and ``static/``
(the pages). Needs the ``web`` extra (aiohttp); nothing here imports torch.
"""
