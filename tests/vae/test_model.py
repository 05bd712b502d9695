"""VAE model: forward shapes per encoder, reparameterisation statistics, KL, losses, schedules."""

import math

import pytest
import torch

from ethoflow.vae.losses import beta_at, kl_divergence, recon_loss, vae_loss
from ethoflow.vae.model import TimeSeriesVAE, VAEConfig, reparameterize

torch.set_num_threads(1)


@pytest.mark.parametrize("encoder", ["conv", "gru", "transformer"])
@pytest.mark.parametrize("pe", [False, True])
def test_forward_shapes_each_encoder(encoder, pe):
    torch.manual_seed(0)
    cfg = VAEConfig(
        seq_len=30,
        channels=5,
        latent_dim=6,
        hidden_dim=16,
        num_layers=2,
        encoder=encoder,
        positional_encoding=pe,
        nuisance_dims=2,
        num_heads=2,
    )
    model = TimeSeriesVAE(cfg)
    x = torch.randn(7, 30, 5)
    mask = torch.rand(7, 30, 5) > 0.3
    mask[0] = False  # an all-missing snip must not produce NaN
    x_hat, mu, logvar = model(x, mask)
    assert x_hat.shape == (7, 30, 5)
    assert mu.shape == (7, 6) and logvar.shape == (7, 6)
    assert torch.isfinite(x_hat).all() and torch.isfinite(mu).all()
    # missing entries are invisible to the encoder: changing them leaves mu unchanged
    model.eval()
    mu1, _ = model.encode(x, mask)
    x2 = torch.where(mask, x, torch.full_like(x, 123.0))
    mu2, _ = model.encode(x2, mask)
    assert torch.allclose(mu1, mu2, atol=1e-5)


def test_wrong_input_shape_is_a_clear_error():
    model = TimeSeriesVAE(VAEConfig(seq_len=10, channels=3))
    with pytest.raises(ValueError, match=r"expected input \(B, 10, 3\)"):
        model(torch.zeros(2, 11, 3))


def test_config_validation():
    with pytest.raises(ValueError, match="nuisance_dims"):
        VAEConfig(seq_len=10, channels=2, latent_dim=4, nuisance_dims=4)
    with pytest.raises(ValueError, match="num_heads"):
        VAEConfig(seq_len=10, channels=2, hidden_dim=10, num_heads=3, encoder="transformer")
    with pytest.raises(ValueError, match="encoder"):
        VAEConfig(seq_len=10, channels=2, encoder="lstm")


def test_reparameterisation_statistics():
    g = torch.Generator().manual_seed(1)
    n = 200_000
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(n, 3)
    logvar = torch.log(torch.tensor([[0.25, 4.0, 1.0]])).expand(n, 3)
    z = reparameterize(mu, logvar, generator=g)
    assert z.shape == (n, 3)
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0, 0.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 2.0, 1.0]), rtol=0.02)
    # gradients reach mu and logvar
    mu_p = torch.zeros(4, 2, requires_grad=True)
    lv_p = torch.zeros(4, 2, requires_grad=True)
    reparameterize(mu_p, lv_p).sum().backward()
    assert mu_p.grad is not None and lv_p.grad is not None and lv_p.grad.abs().sum() > 0


def test_kl_nonnegative_and_equals_closed_form():
    torch.manual_seed(0)
    mu = torch.randn(64, 5) * 2
    logvar = torch.randn(64, 5)
    kl = kl_divergence(mu, logvar)
    assert kl.shape == (64, 5)
    assert (kl >= 0).all()
    # closed form against torch.distributions (independent implementation)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p), atol=1e-5)
    # and a hand-computed value: mu=1, var=e -> 0.5 * (1 + e - 1 - 1)
    v = kl_divergence(torch.tensor([[1.0]]), torch.tensor([[1.0]])).item()
    assert v == pytest.approx(0.5 * (math.e - 1.0), rel=1e-6)
    assert kl_divergence(torch.zeros(1, 3), torch.zeros(1, 3)).abs().max() == 0


def test_losses_respect_masks():
    x = torch.zeros(2, 4, 3)
    x_hat = torch.ones(2, 4, 3)
    mask = torch.zeros(2, 4, 3, dtype=torch.bool)
    mask[0, :2] = True  # 6 valid entries in snip 0, none in snip 1
    rec = recon_loss(x_hat, x, mask, "mse")
    assert rec.tolist() == [6.0, 0.0]
    hub = recon_loss(x_hat * 3, x, mask, "huber", delta=1.0)
    assert hub[0].item() == pytest.approx(6 * (3 - 0.5))
    mu = torch.tensor([[1.0, 0.0], [5.0, 5.0]])
    logvar = torch.zeros(2, 2)
    terms = vae_loss(x_hat, x, mu, logvar, beta=0.5, mask=mask)
    # snip 1 is all-missing: left out of both terms
    assert terms.n == 1
    assert terms.recon.item() == pytest.approx(6.0)
    assert terms.kl.item() == pytest.approx(0.5)
    assert terms.kl_per_dim.tolist() == pytest.approx([0.5, 0.0])
    assert terms.loss.item() == pytest.approx(6.0 + 0.5 * 0.5)
    with pytest.raises(ValueError, match="mse' or 'huber"):
        recon_loss(x_hat, x, mask, "l1")


def test_beta_schedules():
    assert beta_at(0, 2.0, "linear", 4) == 0.0
    assert beta_at(1, 2.0, "linear", 4) == pytest.approx(0.5)
    assert beta_at(2.5, 2.0, "linear", 4) == pytest.approx(1.25)
    assert beta_at(4, 2.0, "linear", 4) == 2.0
    assert beta_at(10, 2.0, "linear", 4) == 2.0
    assert beta_at(3.99, 2.0, "step", 4) == 0.0
    assert beta_at(4, 2.0, "step", 4) == 2.0
    assert beta_at(0, 2.0, "constant", 4) == 2.0
    assert beta_at(0, 2.0, "linear", 0) == 2.0
    with pytest.raises(ValueError, match="schedule"):
        beta_at(0, 1.0, "cosine", 2)


@pytest.mark.parametrize("encoder", ["conv", "gru", "transformer"])
def test_loss_decreases_over_two_epochs_on_synthetic_data(encoder):
    torch.manual_seed(0)
    n, t, c = 64, 24, 3
    phase = torch.rand(n, 1, 1) * 6.28
    amp = 0.5 + torch.rand(n, 1, 1)
    tt = torch.arange(t).float()[None, :, None]
    x = amp * torch.sin(tt / 3.0 + phase) + 0.05 * torch.randn(n, t, c)
    mask = torch.rand(n, t, c) > 0.1
    model = TimeSeriesVAE(VAEConfig(seq_len=t, channels=c, latent_dim=4, hidden_dim=16, num_layers=1, encoder=encoder))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def epoch_loss(train):
        model.train(train)
        total = 0.0
        for s in range(0, n, 16):
            xb, mb = x[s : s + 16], mask[s : s + 16]
            with torch.set_grad_enabled(train):
                x_hat, mu, lv = model(xb, mb, sample=train)
                terms = vae_loss(x_hat, xb, mu, lv, beta=0.1, mask=mb)
            if train:
                opt.zero_grad()
                terms.loss.backward()
                opt.step()
            total += terms.loss.item()
        return total

    before = epoch_loss(False)
    epoch_loss(True)
    epoch_loss(True)
    after = epoch_loss(False)
    assert after < 0.9 * before, (before, after)
