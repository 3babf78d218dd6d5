"""Stage 1, the recipe: a YAML file and flags become the three dataclasses every command reads.

``config`` declares the kit's arguments beside TRL's ``GRPOConfig`` and ``ModelConfig`` and parses
them once (``parse_recipe``); ``cli`` turns bad input into one ``error:`` line and a non-zero exit;
``hub`` plans and fetches what a recipe names from the hub (``make download``); ``sources`` sets a
recipe's run-deciding values beside the paper or repository it reproduces (``make recipes-check``).
"""
