"""The officials' workspace: web pages over the officials' API's service functions.

Find a citizen, read the record and its history, and register births, deaths, disappearances,
residence changes, marriages (a foreign spouse included), divorces, changes of name or gender
and corrections. Staff with the official role, signed in with a passkey, use it through the
portal's sign-in; every rule is the API's (registry.service, registry.reads).
"""
