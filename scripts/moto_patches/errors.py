"""Where the corrections' own exception classes say they come from.

moto finds the shape of an error answer (query-protocol XML, REST-XML, JSON) from the
module of its exception class, `moto.<service>.exceptions`. A class defined in this
package would be looked up under `moto_patches.…`, so each one claims its service's
module instead: `__module__ = service_module("cloudfront")`.
"""


def service_module(service: str) -> str:
    return f"moto.{service}.exceptions"
