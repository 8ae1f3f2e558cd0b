"""ELBv2: CreateListener is idempotent and one port has one listener."""

from __future__ import annotations


def apply() -> None:
    from moto.elbv2 import models as elbv2
    from moto.elbv2.exceptions import DuplicateListenerError

    # AWS (ELBv2 API Reference, CreateListener): "This operation is idempotent, which
    # means that it completes at most one time. If you attempt to create multiple listeners
    # with the same settings, each call succeeds"; a port in use with other settings is
    # DuplicateListener. moto compared the port with its listeners' ARNs, so a retried
    # create (its first reply lost) made a second listener on the same port.
    original = elbv2.ELBv2Backend.create_listener

    def create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs):
        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is not None:
            for listener in balancer.listeners.values():
                if str(listener.port) == str(port):
                    if str(listener.protocol).upper() == str(protocol).upper():
                        return listener
                    raise DuplicateListenerError()
        return original(self, load_balancer_arn, protocol, port, *args, **kwargs)

    elbv2.ELBv2Backend.create_listener = create_listener
