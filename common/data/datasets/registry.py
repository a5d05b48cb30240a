from common.registry import Registry

GENERATORS = Registry("data generator")
