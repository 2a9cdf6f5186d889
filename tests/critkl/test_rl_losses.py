"""GAE, A2C and PPO losses on a hand-worked two-step episode; KL weight w ≡ 1 is the standard KL."""

import math

import pytest
import torch

from critkl.rl import a2c_loss, gae, ppo_loss, weighted_kl

# One episode, two actions: rewards (0, 1), V(s0) = 0.5, V(s1) = 0.8, γ = 1, λ = 0.5.
#   δ1 = 1 − 0.8 = 0.2                A1 = 0.2
#   δ0 = 0 + 0.8 − 0.5 = 0.3          A0 = 0.3 + 0.5·0.2 = 0.4      R = A + V = (0.9, 1.0)
MASK = torch.tensor([[1, 1]])
REWARDS = torch.tensor([[0.0, 1.0]])
VALUES_OLD = torch.tensor([[0.5, 0.8]])
LOGP = torch.log(torch.tensor([[0.5, 0.25]]))
REF = torch.log(torch.tensor([[0.25, 0.25]]))
WEIGHT = torch.tensor([[1.0, 0.5]])
VALUES_NEW = torch.tensor([[0.6, 0.7]])
ENTROPY = torch.tensor([[1.0, 2.0]])


def test_gae_two_steps():
    adv, ret = gae(REWARDS, VALUES_OLD, MASK, gamma=1.0, lam=0.5)
    assert adv[0].tolist() == pytest.approx([0.4, 0.2])
    assert ret[0].tolist() == pytest.approx([0.9, 1.0])


def test_gae_masks_padding_and_terminal_value():
    r = torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0]])
    v = torch.tensor([[9.0, 0.5, 0.8, 9.0], [0.2, 0.4, 9.0, 9.0]])
    m = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0]])
    adv, _ = gae(r, v, m, 1.0, 0.5)
    assert adv.flatten().tolist() == pytest.approx([0.0, 0.4, 0.2, 0.0, 0.2 + 0.5 * -1.4, -1.4, 0.0, 0.0])


def test_a2c_loss_hand_worked():
    lp = LOGP.clone().requires_grad_(True)
    kl = weighted_kl(lp, REF, WEIGHT, MASK, "k2")
    # k2 = ½(ln 0.5 − ln 0.25)² = ½ ln²2 on step 0, 0 on step 1; weighted mean = (1·½ln²2 + 0)/2
    assert float(kl.detach()) == pytest.approx(0.25 * math.log(2) ** 2)
    t = a2c_loss(lp, torch.tensor([[0.4, 0.2]]), VALUES_NEW, torch.tensor([[0.9, 1.0]]), ENTROPY, kl, MASK,
                 value_coef=0.1, entropy_coef=0.01, alpha=2.0)
    policy = -(math.log(0.5) * 0.4 + math.log(0.25) * 0.2) / 2  # 0.277259
    value = (0.3**2 + 0.3**2) / 2  # 0.09
    assert float(t.policy) == pytest.approx(policy)
    assert float(t.value) == pytest.approx(value)
    assert float(t.entropy) == pytest.approx(1.5)
    assert float(t.total) == pytest.approx(policy + 0.1 * value - 0.01 * 1.5 + 2.0 * 0.25 * math.log(2) ** 2)
    t.total.backward()
    # ∂/∂lp_t: −A_t/2 + α·w_t·(lp_t − lq_t)/2
    assert lp.grad[0].tolist() == pytest.approx([-0.2 + 2.0 * 1.0 * math.log(2) / 2, -0.1])


def test_ppo_loss_hand_worked():
    old = torch.log(torch.tensor([[0.4, 0.5]]))
    # ρ = (1.25, 0.5); ε = 0.2 → clipped (1.2, 0.8); A = (0.4, 0.2)
    # min(ρA, clip(ρ)A) = (min(0.5, 0.48), min(0.1, 0.16)) = (0.48, 0.1)
    t = ppo_loss(LOGP, old, torch.tensor([[0.4, 0.2]]), VALUES_NEW, torch.tensor([[0.9, 1.0]]), ENTROPY,
                 torch.tensor(0.3), MASK, clip=0.2, value_coef=0.1, entropy_coef=0.01, alpha=2.0)
    assert float(t.policy) == pytest.approx(-(0.48 + 0.1) / 2)
    assert float(t.total) == pytest.approx(-0.29 + 0.1 * 0.09 - 0.01 * 1.5 + 2.0 * 0.3)
    # negative advantage: the pessimistic bound takes the unclipped ρ = 1.25
    t = ppo_loss(LOGP[:, :1], old[:, :1], torch.tensor([[-1.0]]), VALUES_NEW[:, :1], VALUES_NEW[:, :1],
                 ENTROPY[:, :1], torch.tensor(0.0), MASK[:, :1], clip=0.2)
    assert float(t.policy) == pytest.approx(1.25)


def test_ppo_equals_a2c_gradient_at_ratio_one():
    lp = LOGP.clone().requires_grad_(True)
    adv = torch.tensor([[0.4, -0.2]])
    args = (VALUES_NEW, torch.tensor([[0.9, 1.0]]), ENTROPY, torch.tensor(0.0), MASK)
    ppo_loss(lp, LOGP.detach(), adv, *args).total.backward()
    g_ppo = lp.grad.clone()
    lp.grad = None
    a2c_loss(lp, adv, *args).total.backward()
    assert torch.allclose(g_ppo, lp.grad)


def test_unit_weight_is_the_standard_kl():
    torch.manual_seed(0)
    lp, lq = torch.randn(3, 5), torch.randn(3, 5)
    m = torch.rand(3, 5) > 0.4
    assert torch.equal(weighted_kl(lp, lq, torch.ones(3, 5), m), weighted_kl(lp, lq, None, m))
