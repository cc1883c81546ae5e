"""A small symbolic autodiff module in the style of the UW CSE 599W (dlsys) 2017 assignment 1,
written for gradlab's tests: ``Node`` objects made by ``Op`` singletons, ``compute(self, node,
input_vals)`` on NumPy arrays and ``gradient(self, node, output_grad)`` returning a list of Nodes.

The ops above the line are right; those below it each hold one planted bug (see
tests/test_graph_api.py for what gradlab reports about each).
"""

import numpy as np


class Node:
    """One vertex of the graph: the op that made it, its input nodes, a constant, a name."""

    def __init__(self):
        self.inputs = []
        self.op = None
        self.const_attr = None
        self.name = ""

    def __add__(self, other):
        return add_op(self, other) if isinstance(other, Node) else add_byconst_op(self, other)

    def __mul__(self, other):
        return mul_op(self, other) if isinstance(other, Node) else mul_byconst_op(self, other)

    __radd__ = __add__
    __rmul__ = __mul__

    def __str__(self):
        return self.name


def Variable(name):
    """A named input of the graph, given a value by the executor's feed dict."""
    node = placeholder_op()
    node.name = name
    return node


class Op:
    """What a node does: its value from its inputs' values, and its inputs' gradients as nodes."""

    def __call__(self):
        node = Node()
        node.op = self
        return node

    def compute(self, node, input_vals):
        raise NotImplementedError

    def gradient(self, node, output_grad):
        raise NotImplementedError


class AddOp(Op):
    def __call__(self, node_A, node_B):
        node = Op.__call__(self)
        node.inputs = [node_A, node_B]
        node.name = f"({node_A.name}+{node_B.name})"
        return node

    def compute(self, node, input_vals):
        return input_vals[0] + input_vals[1]

    def gradient(self, node, output_grad):
        return [output_grad, output_grad]


class AddByConstOp(Op):
    def __call__(self, node_A, const_val):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.const_attr = const_val
        node.name = f"({node_A.name}+{const_val})"
        return node

    def compute(self, node, input_vals):
        return input_vals[0] + node.const_attr

    def gradient(self, node, output_grad):
        return [output_grad]


class MulOp(Op):
    def __call__(self, node_A, node_B):
        node = Op.__call__(self)
        node.inputs = [node_A, node_B]
        node.name = f"({node_A.name}*{node_B.name})"
        return node

    def compute(self, node, input_vals):
        return input_vals[0] * input_vals[1]

    def gradient(self, node, output_grad):
        a, b = node.inputs
        return [output_grad * b, output_grad * a]


class MulByConstOp(Op):
    def __call__(self, node_A, const_val):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.const_attr = const_val
        node.name = f"({node_A.name}*{const_val})"
        return node

    def compute(self, node, input_vals):
        return input_vals[0] * node.const_attr

    def gradient(self, node, output_grad):
        return [output_grad * node.const_attr]


class MatMulOp(Op):
    def __call__(self, node_A, node_B, trans_A=False, trans_B=False):
        node = Op.__call__(self)
        node.inputs = [node_A, node_B]
        node.matmul_attr_trans_A, node.matmul_attr_trans_B = trans_A, trans_B
        node.name = f"MatMul({node_A.name},{node_B.name},{trans_A},{trans_B})"
        return node

    def compute(self, node, input_vals):
        a, b = input_vals
        a = a.T if node.matmul_attr_trans_A else a
        b = b.T if node.matmul_attr_trans_B else b
        return a @ b

    def gradient(self, node, output_grad):
        a, b = node.inputs
        ta, tb = node.matmul_attr_trans_A, node.matmul_attr_trans_B
        # Y = op(A) op(B): d op(A) = dY op(B)^T, d op(B) = op(A)^T dY, then undo op on each
        grad_a = matmul_op(b, output_grad, tb, True) if ta else matmul_op(output_grad, b, False, not tb)
        grad_b = matmul_op(output_grad, a, True, ta) if tb else matmul_op(a, output_grad, not ta, False)
        return [grad_a, grad_b]


class ExpOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Exp({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.exp(input_vals[0])

    def gradient(self, node, output_grad):
        return [output_grad * node]


class LogOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Log({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.log(input_vals[0])

    def gradient(self, node, output_grad):
        return [output_grad * reciprocal_op(node.inputs[0])]


class ReciprocalOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"1/{node_A.name}"
        return node

    def compute(self, node, input_vals):
        return 1.0 / input_vals[0]

    def gradient(self, node, output_grad):
        return [output_grad * node * node * -1.0]


class ReluOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Relu({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.maximum(input_vals[0], 0)

    def gradient(self, node, output_grad):
        return [relu_gradient_op(node.inputs[0], output_grad)]


class ReluGradientOp(Op):
    def __call__(self, node_A, node_B):
        """node_B: the gradient flowing in."""
        node = Op.__call__(self)
        node.inputs = [node_A, node_B]
        node.name = f"ReluGrad({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return (input_vals[0] > 0) * input_vals[1]

    def gradient(self, node, output_grad):
        return [zeroslike_op(node.inputs[0]), relu_gradient_op(node.inputs[0], output_grad)]


class ReduceSumAxisZeroOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"ReduceSum({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.sum(input_vals[0], axis=0)

    def gradient(self, node, output_grad):
        return [broadcastto_op(output_grad, node.inputs[0])]


class BroadcastToOp(Op):
    def __call__(self, node_A, node_B):
        """node_A broadcast along a new first axis to the shape of node_B."""
        node = Op.__call__(self)
        node.inputs = [node_A, node_B]
        node.name = f"BroadcastTo({node_A.name},{node_B.name}.shape)"
        return node

    def compute(self, node, input_vals):
        return np.broadcast_to(input_vals[0], input_vals[1].shape).copy()

    def gradient(self, node, output_grad):
        return [reducesumaxiszero_op(output_grad), zeroslike_op(node.inputs[1])]


class PlaceholderOp(Op):
    def __call__(self):
        return Op.__call__(self)

    def compute(self, node, input_vals):
        raise AssertionError("a placeholder's value comes from the feed dict")

    def gradient(self, node, output_grad):
        return None


class ZerosLikeOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Zeroslike({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.zeros_like(input_vals[0])

    def gradient(self, node, output_grad):
        return [zeroslike_op(node.inputs[0])]


class OnesLikeOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Oneslike({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.ones_like(input_vals[0])

    def gradient(self, node, output_grad):
        return [zeroslike_op(node.inputs[0])]


# ---- planted bugs, one per class -------------------------------------------------------------


class MulByConstWrongOp(MulByConstOp):
    def gradient(self, node, output_grad):
        return [output_grad * (node.const_attr * node.const_attr)]  # the constant once too often


class MatMulNoTransposeOp(MatMulOp):
    def gradient(self, node, output_grad):
        a, b = node.inputs  # right only without trans_A and trans_B
        return [matmul_op(output_grad, b, False, True), matmul_op(a, output_grad, True, False)]


class AddOneGradientOp(AddOp):
    def gradient(self, node, output_grad):
        return [output_grad]  # one gradient for two inputs


class SquareOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Square({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return input_vals[0] ** 2

    def gradient(self, node, output_grad):
        return [mul_byconst_op(output_grad * node.inputs[0], "2")]  # crashes when evaluated


class SqrtOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Sqrt({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.sqrt(input_vals[0])

    def gradient(self, node, output_grad):
        """TODO: Your code here"""


class SignOp(Op):
    def __call__(self, node_A):
        node = Op.__call__(self)
        node.inputs = [node_A]
        node.name = f"Sign({node_A.name})"
        return node

    def compute(self, node, input_vals):
        return np.sign(input_vals[0])

    def gradient(self, node, output_grad):
        return [np.zeros(1)]  # a value, not a node: the executor cannot evaluate it


add_op = AddOp()
add_byconst_op = AddByConstOp()
mul_op = MulOp()
mul_byconst_op = MulByConstOp()
matmul_op = MatMulOp()
exp_op = ExpOp()
log_op = LogOp()
reciprocal_op = ReciprocalOp()
relu_op = ReluOp()
relu_gradient_op = ReluGradientOp()
reducesumaxiszero_op = ReduceSumAxisZeroOp()
broadcastto_op = BroadcastToOp()
placeholder_op = PlaceholderOp()
zeroslike_op = ZerosLikeOp()
oneslike_op = OnesLikeOp()


class Executor:
    """Evaluates the nodes of ``eval_node_list`` given values for the placeholders."""

    def __init__(self, eval_node_list):
        self.eval_node_list = eval_node_list

    def run(self, feed_dict):
        values = dict(feed_dict)
        for node in find_topo_sort(self.eval_node_list):
            if node not in values:
                values[node] = node.op.compute(node, [values[n] for n in node.inputs])
        return [values[node] for node in self.eval_node_list]


def gradients(output_node, node_list):
    """The gradient nodes of the sum of ``output_node`` with respect to each node of ``node_list``."""
    contributions = {output_node: [oneslike_op(output_node)]}
    grads = {}
    for node in reversed(find_topo_sort([output_node])):
        grads[node] = sum_node_list(contributions[node])
        for child, grad in zip(node.inputs, node.op.gradient(node, grads[node]) or [], strict=False):
            contributions.setdefault(child, []).append(grad)
    return [grads[node] for node in node_list]


def find_topo_sort(node_list):
    visited, order = set(), []

    def visit(node):
        if node not in visited:
            visited.add(node)
            for n in node.inputs:
                visit(n)
            order.append(node)

    for node in node_list:
        visit(node)
    return order


def sum_node_list(node_list):
    total = node_list[0]
    for node in node_list[1:]:
        total = total + node
    return total
