"""Single sign-on across provinces (统一身份认证, "单点登录、全国漫游、无感切换").

The hub (100000) is an OpenID Connect provider (``provider``): people sign in there once, and
every province's node is a relying party (``client``) that signs them in from the hub's ID
token without a password prompt. Logging out anywhere ends the hub session, and the hub tells
every node the session reached (back-channel logout).

What a token carries: the subject id, the name, the real-name level, a keyed hash of the ID
number (per node, so two nodes' hashes cannot be matched) and enterprise roles — never the ID
number. A node that needs the number (every case does) asks the hub's identity endpoint with the
person's access token, and gets it encrypted to its own node key (X25519, as case data travels).

Nodes authenticate at the hub's token endpoint with a client assertion signed by their node key
(Ed25519, the key the trust list vouches for): no client secrets to hand out or leak.
"""
