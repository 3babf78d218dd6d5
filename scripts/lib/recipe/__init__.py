"""Stage 1, the recipe: a YAML file and flags become the three dataclasses every command reads.

``arguments`` declares the kit's arguments (``R1ZeroArguments``, the reward settings) beside TRL's
``GRPOConfig`` and ``ModelConfig``; ``yaml_file`` reads a recipe file and checks its keys (naming the
closest valid key); ``parsing`` parses recipe and flags once (``parse_recipe``); ``validation`` checks the
parsed values and GPU-only settings; ``cli`` turns bad input into one ``error:`` line and a non-zero exit;
``hub`` plans and fetches what a recipe names from the hub (``make download``); ``sources`` sets a
recipe's run-deciding values beside the paper or repository it reproduces (``make recipes-check``).
"""
